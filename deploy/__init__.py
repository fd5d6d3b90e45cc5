"""Deployment tooling: the image build, Podman as the project drives it, the local split deployment."""

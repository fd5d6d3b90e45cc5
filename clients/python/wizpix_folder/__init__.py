"""Remove the background of every image in a folder through a running WizPix service.

    .venv/bin/python clients/python/remove_folder.py IN_DIR OUT_DIR [--url URL]
        [--quality fast|pro|auto] [--concurrency N] [any /remove-bg option, e.g. --format webp --crop]

Sub-folders are mirrored in OUT_DIR; each image becomes NAME.<ext>, the extension taken from
the answer's content type. Resumable: ``OUT_DIR/.wizpix-manifest.json`` records, per input,
the sha256 of its bytes, the query used and the output, so a second run sends only what is
new, changed, asked with other options, served by a fallback, or whose output was deleted.
Outputs and the manifest are written to a temp file and renamed, so an interrupted run
leaves no partial file. Exit codes: 0 all done · 1 some failed · 2 bad usage · 130 Ctrl-C.
Environment: WIZPIX_URL (default URL), API_KEY (sent as ``Authorization: Bearer``).

A client of the HTTP API: it imports of the service only its options model (the flags) and
the names of its formats, so it runs in the project's venv.
"""

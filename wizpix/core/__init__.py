"""Shared by every process (front, runners, scripts): settings, catalogue, roles, states,
errors and the runner contract. Imports nothing else of the package."""

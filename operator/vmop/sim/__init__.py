"""The compute API simulator: vmop's vcsim."""

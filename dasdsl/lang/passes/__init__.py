"""The checker's passes: each module does one job on the shared CheckState; dasdsl.lang.check runs them in order."""

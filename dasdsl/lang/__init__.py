"""The language: AST, parser, printer, checker passes, counting, the search block's settings."""

"""Search methods the language names: gates and gate penalties, each registered once, torch-free at import."""

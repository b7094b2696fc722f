"""Views of spaces and runs: graphviz renders, matplotlib plots, the HTML report."""

"""Search: data, the bilevel searcher, discretization, constraints, run directories and the run workflow."""

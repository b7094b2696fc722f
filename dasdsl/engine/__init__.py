"""The engine that runs searches and trainings: data, the bilevel searcher, discretization, constraints, run
directories and the run workflow (named apart from the search function, ``dasdsl.api.search``)."""

"""The compiler: IR types and building, lowering to torch modules, cost model."""

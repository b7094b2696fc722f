"""The op layer: one registry of ops (signature, shape rule, torch builder, cost) and their torch modules."""

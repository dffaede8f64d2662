"""PyTorch parity tests and the small PyTorch reference implementations they compare against."""

"""One module per schema revision of the improvement register, oldest first."""

"""Getting started without a warehouse: a first model from a database, mock data for a model."""

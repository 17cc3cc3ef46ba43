"""Plotly figures built from metric DataFrames; one module per page. No queries here."""

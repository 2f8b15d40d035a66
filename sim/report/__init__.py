"""Reports from results tables: summary sentences, markdown tables, figures."""

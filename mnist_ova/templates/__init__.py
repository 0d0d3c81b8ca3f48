"""The report's Jinja2 templates and style sheet, installed as package data (``mnist_ova.templates``)."""

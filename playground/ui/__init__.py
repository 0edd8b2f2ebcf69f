"""The only Streamlit code besides app.py: widgets, the live view, the compare tab, components."""

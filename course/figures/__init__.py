"""Plotly figures for the lessons, one module per lesson. Figures only: no Streamlit calls, and
every number they draw comes from the library or the course's own computations."""

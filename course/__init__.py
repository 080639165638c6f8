"""The course around the `tinygpt` library: what exists only for the lessons. Background training
runs and their plans, the attention demos, dataset statistics, generation views and the plotly
figures. Streamlit-free, so it can be unit-tested; it imports `tinygpt`, never the reverse."""

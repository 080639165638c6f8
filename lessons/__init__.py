"""The lessons of the TinyGPT app: thin Streamlit pages over the `tinygpt` library."""

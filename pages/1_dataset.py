"""Placeholder while the lesson is being written."""

import streamlit as st

st.title("1_dataset")

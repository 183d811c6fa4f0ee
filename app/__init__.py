"""The command line and the Gradio app; no logic the Python API lacks."""

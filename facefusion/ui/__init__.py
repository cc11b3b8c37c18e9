"""The Gradio web UI: layout and event wiring only; the work is done by the pipeline."""

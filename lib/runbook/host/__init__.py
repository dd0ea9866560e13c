"""The host side, outside the kernel: the command line, the runner around papermill, notebook
parameters, JupyterLab."""

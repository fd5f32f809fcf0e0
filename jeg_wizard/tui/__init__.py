"""The interactive wizard: Textual screens over the same engine `--unattended` drives.

Only this package imports textual; the engine never imports it.
"""

"""Plain helpers shared by test modules; fixtures stay in the conftest.py files, where pytest finds them."""

"""Automatic checks behind the book's exercises, one module per chapter.

Each check takes the reader's answer, raises ``AssertionError`` with a message that says what is
wrong (and hints at why), and prints a short confirmation when the answer is right. The same
functions are called by the chapters' solution cells, by the student copies
(``make student``) and by the test suite, which also feeds them typical wrong answers.
"""

from implicit_edu.exercises import implicit_models, one_over_x

__all__ = ["implicit_models", "one_over_x"]

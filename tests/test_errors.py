from posedy.errors import one_line_message


def test_plain_exception_first_line():
    assert one_line_message(ValueError("a.json: not valid JSON\nmore detail")) == "a.json: not valid JSON"


def test_dataloader_worker_message_keeps_the_original_line():
    text = ("Caught DataError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
            '  File "x.py", line 1, in <module>\nposedy.data.coco.DataError: img.jpg: cannot decode image')
    assert one_line_message(RuntimeError(text)) == "img.jpg: cannot decode image"


def test_empty_message_names_the_exception():
    assert one_line_message(KeyError()) == "KeyError"

import io

from posedy.engine.logging import LineProgress, epoch_progress, format_duration, is_terminal, last_validation_ap


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_format_duration():
    assert format_duration(65) == "1:05"
    assert format_duration(3725.2) == "1:02:05"
    assert format_duration(-3) == "0:00"


def test_lines_every_interval_and_at_the_end_with_eta():
    out, clock = io.StringIO(), FakeClock()
    bar = LineProgress(10, 0, "epoch 1/3", stream=out, interval_s=30.0, later_iters=20, clock=clock)
    for _ in range(4):  # 10 s per iteration: a line after the 3rd
        clock.now += 10.0
        bar.set_postfix(loss="1.0e-03", lr="4.0e-03", tau="30.00", img_s="6.4", refresh=False)
        bar.update(1)
    bar.close()
    bar.close()  # closing twice writes nothing more
    lines = out.getvalue().splitlines()
    # 3 of 10 done at 0.1 it/s: 70 s left in the epoch, plus 20 later iterations = 270 s.
    assert lines == ["epoch 1/3 iter 3/10 loss=1.0e-03 lr=4.0e-03 tau=30.00 img_s=6.4 ETA epoch 1:10 run 4:30",
                     "epoch 1/3 iter 4/10 loss=1.0e-03 lr=4.0e-03 tau=30.00 img_s=6.4 ETA epoch 1:00 run 4:20"]
    assert "\r" not in out.getvalue()


def test_finished_epoch_says_how_long_it_took():
    out, clock = io.StringIO(), FakeClock()
    bar = LineProgress(2, 0, "epoch 3/3", stream=out, clock=clock)
    clock.now += 5.0
    bar.update(2)
    bar.close()
    assert out.getvalue() == "epoch 3/3 iter 2/2 took 0:05\n"


def test_resumed_epoch_rate_counts_only_new_iterations():
    out, clock = io.StringIO(), FakeClock()
    bar = LineProgress(10, 8, "epoch 2/2", stream=out, interval_s=1.0, clock=clock)
    clock.now += 2.0
    bar.update(1)  # 1 iteration in 2 s: 1 left, 2 s
    assert out.getvalue() == "epoch 2/2 iter 9/10 ETA epoch 0:02 run 0:02\n"


def test_bars_only_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert not is_terminal(io.StringIO()) and is_terminal(Tty())
    assert isinstance(epoch_progress(5, 0, 0, 2, True, stream=io.StringIO()), LineProgress)
    bar = epoch_progress(5, 0, 0, 2, True, stream=Tty())
    assert not isinstance(bar, LineProgress)
    bar.close()
    # Hidden (other ranks): a disabled tqdm writes nothing.
    quiet = io.StringIO()
    hidden = epoch_progress(5, 0, 0, 2, False, stream=quiet)
    hidden.update(5)
    hidden.close()
    assert quiet.getvalue() == ""


def test_last_validation_ap_reads_the_last_validation_of_a_metrics_file(tmp_path):
    path = tmp_path / "metrics.jsonl"
    assert last_validation_ap(path) is None  # missing
    path.write_text('{"type": "val", "step": 5, "AP": 0.25}\n{"type": "train", "step": 7, "loss": 1.0}\n'
                    '{"type": "val", "step": 10, "AP": 0.5}\n{"type": "val", "step": 10, "AP": 0.625}\n\n')
    assert last_validation_ap(path) == 0.625  # a step repeated after a resume: its last record
    path.write_text('{"type": "train", "step": 1, "loss": 1.0}\n')
    assert last_validation_ap(path) is None  # no validation yet
    path.write_text("not json\n")
    assert last_validation_ap(path) is None

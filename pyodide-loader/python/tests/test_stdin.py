"""A run's input: `input()`, `sys.stdin`, `getpass` and pdb read the run's own lines, or ask
the page, or fail with a clear `EOFError`; Stop while waiting stops the run."""

import json


def lines(*given):
    return json.dumps({"lines": list(given)})


class Person:
    """The page's side: answers each ask from a script, keeping the prompts it was shown."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.asked = []

    def __call__(self, prompt, password):
        self.asked.append((prompt, password))
        return self.answers.pop(0)


def stdout(answer):
    return answer["stdout"]


def test_input_reads_the_runs_lines_in_order_and_echoes_them(notebook):
    answer = notebook.run("a = input('first? ')\nb = input()\na + b", stdin=lines("1", "2"))
    assert answer["success"] is True, answer
    assert answer["result"] == "12"
    assert stdout(answer) == "first? 1\n2\n"


def test_a_call_past_the_lines_says_how_many_there_were(notebook):
    answer = notebook.run("input()\ninput()", stdin=lines("only"))
    assert answer["errorType"] == "EOFError"
    assert "more times than this run has input lines (1)" in answer["error"]


def test_a_run_without_lines_or_a_page_has_nothing_to_read(notebook):
    answer = notebook.run("input('name? ')")
    assert answer["errorType"] == "EOFError"
    assert "no input lines" in answer["error"]
    assert "input: [" in answer["error"]


def test_ten_thousand_calls_read_ten_thousand_lines(notebook):
    many = [str(number) for number in range(10_000)]
    answer = notebook.run("sum(int(input()) for _ in range(10_000))", stdin=lines(*many))
    assert answer["result"] == sum(range(10_000)), answer.get("error")


def test_sys_stdin_reads_the_same_lines_and_ends(notebook):
    answer = notebook.run("import sys\n[line.strip() for line in sys.stdin]", stdin=lines("a", "b"))
    assert answer["result"] == ["a", "b"]
    answer = notebook.run("import sys\nsys.stdin.readline()", ask=Person(False))
    assert answer["result"] == ""


def test_the_page_is_asked_with_the_prompt_and_getpass_hides_what_was_typed(notebook):
    person = Person("Ada", "secret")
    answer = notebook.run(
        "import getpass\nname = input('name? ')\nword = getpass.getpass()\n(name, len(word))",
        ask=person,
    )
    assert answer["success"] is True, answer
    assert person.asked == [("name? ", False), ("Password: ", True)]
    assert answer["result"] == ["Ada", 6]
    assert stdout(answer) == "name? Ada\nPassword: \n"
    assert "secret" not in json.dumps(answer)


def test_output_printed_before_the_question_reached_the_page_first(notebook):
    sent_before_asking = []

    def ask(prompt, password):
        sent_before_asking.extend(notebook.sent)
        return "x"

    notebook.run("print('partial', end='')\ninput('? ')", ask=ask)
    assert sent_before_asking == [("stdout", "partial")]


def test_stop_while_waiting_stops_the_run(notebook):
    answer = notebook.run("input('wait? ')\nreached = True", ask=Person(None))
    assert answer["errorType"] == "KeyboardInterrupt"
    assert "reached" not in notebook.run("dir()")["result"]


def test_ctrl_d_ends_the_input(notebook):
    answer = notebook.run("input()", ask=Person(False))
    assert answer["errorType"] == "EOFError"
    assert "ended" in answer["error"]


def test_breakpoint_steps_prints_and_continues(notebook):
    person = Person("p x", "n", "p y", "c")
    answer = notebook.run("x = 41\nbreakpoint()\ny = x + 1\ny", label=1, ask=person)
    assert answer["success"] is True, answer
    assert answer["result"] == 42
    assert [prompt for prompt, _ in person.asked] == ["(Pdb) "] * 4
    text = stdout(answer)
    assert "(Pdb) p x\n41\n" in text
    assert "(Pdb) p y\n42\n" in text


def test_stop_at_the_pdb_prompt_stops_the_run(notebook):
    answer = notebook.run("breakpoint()\nreached = True", ask=Person(None))
    assert answer["errorType"] == "KeyboardInterrupt", answer
    assert "reached" not in notebook.run("dir()")["result"]


def test_debug_after_an_error_opens_pdb_where_it_was_raised(notebook):
    failed = notebook.run("def half(v):\n    return 1 / v\nhalf(0)", label=1)
    assert failed["errorType"] == "ZeroDivisionError"
    person = Person("p v", "q")
    answer = notebook.run("%debug", label=2, ask=person)
    assert answer["success"] is True, answer
    assert "(Pdb) p v\n0\n" in stdout(answer)
    # Stop at its prompt: a stopped run.
    stopped = notebook.run("%debug", label=3, ask=Person(None))
    assert stopped["errorType"] == "KeyboardInterrupt", stopped


def test_debug_with_nothing_to_debug_says_so(notebook):
    import sys

    for name in ("last_traceback", "last_value", "last_type", "last_exc"):
        if hasattr(sys, name):
            delattr(sys, name)
    answer = notebook.run("%debug")
    assert "nothing to debug" in stdout(answer)

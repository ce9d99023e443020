#!/usr/bin/env python3
"""Unit tests of check.py (run by `run.sh --selftest` and by ctest)."""

import copy
import io
import json
import os
import sys
import tempfile
import unittest
from contextlib import redirect_stdout

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402

KEY_URLS = 5


def good_lines(sdk):
    """The lines a correct runner writes."""
    lines = []
    for step, values in check.expected_values(KEY_URLS).items():
        line = {"sdk": sdk, "step": step}
        line.update(copy.deepcopy(values))
        lines.append(line)
    return lines


def as_text(lines):
    return [json.dumps(line) + "\n" for line in lines]


def failures(cells):
    return {key: notes for key, notes in cells.items() if notes}


class CheckTest(unittest.TestCase):
    def test_every_step_right_passes(self):
        lines = good_lines("go") + good_lines("java")
        cells, problems = check.check(as_text(lines), ["go", "java"], KEY_URLS)
        self.assertEqual(problems, [])
        self.assertEqual(failures(cells), {})

    def test_a_wrong_value_fails_that_cell_only(self):
        go, java = good_lines("go"), good_lines("java")
        java[3]["reason"] = "DEADLINE_EXCEEDED"  # wait_timeout
        cells, _ = check.check(as_text(go + java), ["go", "java"], KEY_URLS)
        self.assertEqual(list(failures(cells)), [("wait_timeout", "java")])
        self.assertIn('reason="DEADLINE_EXCEEDED"',
                      cells[("wait_timeout", "java")][0])

    def test_true_is_not_1_and_200_is_not_a_string(self):
        lines = good_lines("node")
        lines[0]["pool_key_match"] = 1
        lines[0]["status"] = "200"
        cells, _ = check.check(as_text(lines), ["node"], KEY_URLS)
        self.assertEqual(len(cells[("get", "node")]), 2)

    def test_missing_sdk_step_or_field_fails(self):
        lines = good_lines("cpp")
        del lines[5]["mismatches"]  # pool_keys
        del lines[-1]  # post_not_replayed
        cells, _ = check.check(as_text(lines), ["cpp", "python"], KEY_URLS)
        self.assertEqual(cells[("post_not_replayed", "cpp")], ["no line"])
        self.assertIn("mismatches", cells[("pool_keys", "cpp")][0])
        self.assertTrue(all(cells[(step, "python")] == ["no line"]
                            for step in check.STEPS))

    def test_key_url_count_and_mismatches_are_checked(self):
        lines = good_lines("go")
        lines[5]["mismatches"] = ["http://[::1]/ http://[::1] http://[::1]:80"]
        cells, _ = check.check(as_text(lines), ["go"], KEY_URLS + 1)
        self.assertEqual(len(cells[("pool_keys", "go")]), 2)

    def test_an_extra_field_must_agree_across_sdks(self):
        lines = good_lines("go") + good_lines("python") + good_lines("node")
        for line in lines:
            if line["step"] == "stats":
                line["pools"] = 3 if line["sdk"] != "node" else 4
        cells, _ = check.check(as_text(lines), ["go", "python", "node"],
                               KEY_URLS)
        self.assertEqual(list(failures(cells)), [("stats", "node")])
        self.assertIn("most SDKs: 3", cells[("stats", "node")][0])

    def test_duplicates_garbage_and_strangers_are_problems(self):
        text = as_text(good_lines("go") + good_lines("go")[:1])
        text += ["not json\n", "[1]\n", '{"sdk": "rust", "step": "get"}\n',
                 '{"sdk": "go", "step": "bogus"}\n', "\n"]
        cells, problems = check.check(text, ["go"], KEY_URLS)
        self.assertEqual(failures(cells), {})
        self.assertEqual(len(problems), 5)

    def test_main_prints_the_matrix_and_sets_the_exit_status(self):
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl") as results:
            lines = good_lines("go") + good_lines("java")
            lines[-1]["origin_hits"] = 2
            results.writelines(as_text(lines))
            results.flush()
            out = io.StringIO()
            with redirect_stdout(out):
                rc = check.main(["--sdks", "go java cpp", "--key-urls",
                                 str(KEY_URLS), results.name])
        self.assertEqual(rc, 1)
        self.assertIn("java post_not_replayed: origin_hits=2", out.getvalue())
        self.assertIn("cpp: no lines at all", out.getvalue())
        self.assertNotIn("cpp get", out.getvalue())
        self.assertIn("interop: FAIL", out.getvalue())


if __name__ == "__main__":
    unittest.main()

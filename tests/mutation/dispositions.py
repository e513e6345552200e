"""Why each mutant that survived a mutmut run survives, or which test kills it since (read by
report.py). ``DISPOSITIONS``: mutant name or fnmatch pattern -> reason, judged one by one.
``KINDS``: a regular expression on the mutated line -> reason, for whole classes of mutants with
one reason. ``RULES_TESTS``: the tests written to kill a module's survivors (tests/rules/), named
for mutants that survived the first run and were killed when rerun with them.

Reasons start with EQUIVALENT (no input the code is given can tell the mutant from the code), CPU
ONLY (device placement: on a CPU every device argument is the CPU, and the test machines have no
GPU), KILLED OUTSIDE MUTMUT (a test fails on the mutant when run plainly, but cannot run under
mutmut's trampolines), or OPEN (not killed; why it was left)."""
from __future__ import annotations

EQ = "EQUIVALENT: "
CPU = "CPU ONLY: device placement, the same on a CPU (every machine the tests run on here)"
OPEN = "OPEN: "
OUTSIDE = "KILLED OUTSIDE MUTMUT: "
INT_LIST = EQ + "torch.tensor of a non-empty list of Python ints is int64 already"

DISPOSITIONS = {
    # ---- zoo/scoring/verdicts.py: vote, worst-of-K, mean
    "zoo.scoring.verdicts.x__as_arrays__mutmut_[35]": EQ + "predictions are only compared for equality with "
    "integer labels and class numbers; any numeric dtype compares alike",
    "zoo.scoring.verdicts.x_vote_correct__mutmut_13": EQ + "one more class column holds zero votes, below the "
    "label's count or tied with other zero counts; the strict comparison is unchanged",
    "zoo.scoring.verdicts.x_vote_correct__mutmut_24": EQ + "any negative stand-in for the label's own count is "
    "below every other (non-negative) count",
    # ---- zoo/reporting/comparison.py: paired tests
    "zoo.scoring.paired.x_mcnemar_exact__mutmut_14": EQ + "scipy's binomtest defaults to p = 0.5",
    "zoo.reporting.comparison.x__percent__mutmut_1": EQ + "round(100 * nan, 2) is nan",
    "zoo.reporting.metrics.x_percent__mutmut_3": EQ + "round(100 * nan, 2) is nan",
    **{f"zoo.reporting.comparison.x_comparisons__mutmut_{n}": EQ + "the groups' order (groupby's sort): the table "
       "is sorted by (threat, eps, attack) at the end, and model pairs come from sorted names"
       for n in (22, 24, 31, 37, 39, 42)},
    **{f"zoo.reporting.comparison.x_comparisons__mutmut_{n}": EQ + "outcome columns are numeric; paired_test casts "
       "them (astype(bool)) or subtracts them alike whatever their dtype" for n in (73, 74)},
    "zoo.scoring.paired.x_paired_difference_interval__mutmut_44": EQ + "at ad - bc = n/2 the shrunk value "
    "is ad - bc - n/2 = 0, the value the other branch gives",
    "zoo.scoring.paired.x_paired_difference_interval__mutmut_49": EQ + "ad - bc = 0 gives 0 in both branches",
    "zoo.scoring.paired.x_paired_difference_interval__mutmut_50": EQ + "ad - bc is an integer: < 1 is <= 0, "
    "and 0 gives 0 in both branches",
    **{f"zoo.scoring.paired.x_paired_difference_interval__mutmut_{n}": EQ + "the clip to [-1, 1] is never "
       "reached: |phi| <= 1 (a correlation, only shrunk), so below <= (p_A - low_A) + (high_B - p_B) and diff - "
       "below >= low_A - high_B >= -1, with equality only at p_A = 0, p_B = 1, where both Wilson widths and so "
       "below are exactly 0 (the upper limit likewise); rounding is orders of magnitude inside that margin"
       for n in (109, 115)},
    **{f"zoo.scoring.paired.x_paired_test__mutmut_{n}": EQ + "one side cast to float and the other not: for the "
       "numeric or boolean outcomes a scorer passes (verdicts, fractions), numpy upcasts the other side in a - b "
       "and scipy casts both, so the differences, interval and p-value are the same (only text would differ)"
       for n in (4, 6, 8, 10)},
    "zoo.scoring.paired.x_paired_test__mutmut_65": EQ + "with n >= 2 (checked first), every difference "
    "equals diff[0] exactly when every difference equals diff[1]",
    # ---- zoo/attacks/draw_decisions.py: AutoAttack's repeated-draw decisions
    "zoo.attacks.draw_decisions.x_row_keys__mutmut_5": CPU + " (without device='cpu', .numpy() fails on a GPU tensor)",
    **{name: CPU + " (the device argument removed)" for name in (
        "zoo.attacks.draw_decisions.xǁRepeatedDrawsǁforward__mutmut_25",
        "zoo.attacks.draw_decisions.xǁRepeatedDrawsǁforward__mutmut_47",
        "zoo.attacks.draw_decisions.x__majority_draw__mutmut_9")},
    "zoo.attacks.draw_decisions.x_row_keys__mutmut_9": EQ + "flatten(2) of an N x C x H x W batch keeps each row's "
    "values contiguous and in order: the same bytes per row",
    "zoo.attacks.draw_decisions.xǁRepeatedDrawsǁforward__mutmut_19": EQ + "any negative stand-in label matches no "
    "class",
    "zoo.attacks.draw_decisions.x__majority_draw__mutmut_13": EQ + "one more class column holds zero votes and is "
    "never the top (the top count is >= 1)",
    # ---- zoo/attacks/least_robust.py: kept points, re-decided flags
    "zoo.attacks.least_robust.xǁKeptǁoffer__mutmut_[68]": INT_LIST,
    "zoo.attacks.least_robust.xǁKeptǁoffer__mutmut_1[1379]": INT_LIST,
    "zoo.attacks.least_robust.xǁKeptǁoffer__mutmut_24": EQ + "pyautoattack hands its sub-attacks float32 inputs, "
    "so candidates and kept points share the dtype",
    "zoo.attacks.least_robust.xǁKeptǁoffer__mutmut_41": EQ + "as xǁKeptǁoffer__mutmut_24 (clean rows are float32)",
    # ---- zoo/attacks/base.py: random starts
    **{f"zoo.attacks.base.xǁAttackǁrandom_point__mutmut_{n}": EQ + "in law: the L2 start's direction or radius is "
       "drawn at another precision (float32 for a float64 input), which changes which equally distributed start "
       "is drawn, not its law or its reproducibility; a test could pin it only with hard-coded draws"
       for n in (25, 28, 35, 38)},
    "zoo.attacks.base.xǁAttackǁrandom_point__mutmut_62": EQ + "in law: the ball and the box are symmetric, so x - "
    "delta has the law of x + delta",
    # ---- zoo/models/guidance.py
    **{f"zoo.models.guidance.{name}": EQ + "log_softmax without dim picks dim 1 for an N x C tensor (the "
       "implicit-dim rule), the dim given" for name in ("x_kl_distance__mutmut_3", "x_kl_distance__mutmut_5",
                                                       "x_kl_distance__mutmut_11", "x_kl_distance__mutmut_13",
                                                       "xǁGuidanceǁobjective__mutmut_9",
                                                       "xǁGuidanceǁobjective__mutmut_11",
                                                       "xǁGuidanceǁterms__mutmut_13", "xǁGuidanceǁterms__mutmut_15")},
    **{f"zoo.models.guidance.xǁGuidanceTermsǁterm_gradients__mutmut_{n}": EQ + "retain_graph on the last term too "
       "only keeps its graph alive until the function returns; every gradient is the same" for n in (21, 22)},
    **{f"zoo.attacks.gradients.xǁLabelAwareǁforward__mutmut_{n}": EQ + "log_softmax of N x K logits: no dim or "
       "dim=+1 is the last dim, dim=-1" for n in (3, 5, 9, 14, 16, 18)},
    "zoo.running.journal.xǁJournalǁ_rewrite__mutmut_25": EQ + "codec names are case-insensitive: 'UTF-8' is "
    "'utf-8'",
    "zoo.running.journal.xǁJournalǁappend__mutmut_43": EQ + "the raw lines are read only when a journal is "
    "opened (a rewrite); lines appended later are never read from that list",
    "zoo.models.guidance.x_cosine_distance__mutmut_8": EQ + "cosine_similarity's default dim is 1",
    # ---- zoo/running/loop.py
    **{f"zoo.running.loop.x_evaluate_entry__mutmut_{n}": EQ + "flush decides only when a resume message leaves "
       "the buffer of stderr, not what it says" for n in (32, 35, 37, 185, 188, 195)},
    "zoo.running.loop.x_evaluate_entry__mutmut_63": CPU + " (a user's defense is moved to the device only when "
    "one is named; every device here is the CPU)",
    **{f"zoo.running.loop.x_run_attacks__mutmut_{n}": EQ + "the protocol is only compared with 'anytime': any "
       "other default spelling runs the final protocol, as 'final' does" for n in (2, 3)},
    **{f"zoo.running.loop.x_run_attacks__mutmut_{n}": EQ + "getattr's default for an attack without "
       "``iterates``: None (or no default on an attack that has it) is falsy like False" for n in (36, 39)},
    "zoo.running.loop.x_run_attacks__mutmut_16": CPU + " (device None: tensors stay where they are, the CPU)",
    # ---- zoo/running/draws.py
    **{f"zoo.running.draws.x_seeded_forward__mutmut_{n}": CPU + " (which devices' RNGs fork_rng saves and "
       "restores: the CUDA one only on a GPU; on a CPU the list is empty either way)" for n in (15, 18, 19)},
    # ---- zoo/running/pool.py
    "zoo.running.pool.x_takes_row_generators__mutmut_5": EQ + "getattr's default None is falsy like False",
    "zoo.running.pool.x_with_noise__mutmut_6": CPU + " (the model's device replaced by the CPU)",
    **{f"zoo.running.pool.x_with_noise__mutmut_{n}": CPU + " (which devices' RNGs fork_rng saves and restores: "
       "the CUDA one only on a GPU; on a CPU the list is empty either way)" for n in (13, 16, 17)},
    "zoo.running.pool.x_with_noise__mutmut_26": EQ + "SeedSequence.generate_state's first word is the same "
    "whatever the number of words asked for",
    **{f"zoo.running.pool.xǁPoolǁseeds__mutmut_{n}": EQ + "the only call that passes an iteration (the clean "
       "draws, at entry) passes 0, the iteration t of a slot just entered" for n in (10, 12)},
    # ---- zoo/models/diffusion/ddpm.py
    **{f"zoo.models.diffusion.ddpm.xǁTruncatedDDPMǁ__init____mutmut_{n}": INT_LIST for n in (27, 29)},
    # ---- zoo/reporting/metrics.py
    **{name: EQ + "groupby's sort: None or no argument is the default, sort=True" for name in (
        "zoo.reporting.metrics.x_summarize__mutmut_7", "zoo.reporting.metrics.x_summarize__mutmut_9",
        "zoo.reporting.metrics.x_outcomes__mutmut_38", "zoo.reporting.metrics.x_outcomes__mutmut_40",
        "zoo.reporting.metrics.x__worst_case__mutmut_9", "zoo.reporting.metrics.x__worst_case__mutmut_11")},
    "zoo.reporting.metrics.x__worst_case__mutmut_14": EQ + "the test indices are looked up by example index "
    "(.loc), so the order they are grouped in does not matter",
    "zoo.reporting.metrics.x_outcomes__mutmut_23": EQ + "astype(None) is astype(float64) (numpy's default dtype)",
    "zoo.reporting.metrics.x__accuracies__mutmut_10": EQ + "None in a summary column of floats is stored as NaN "
    "(every summary has a row of n >= 1, so the column is float)",
    "zoo.reporting.metrics.x__accuracies__mutmut_11": EQ + "with n = 0 every accuracy is NaN: the columns left "
    "unset by the break are filled with NaN by the summary's fixed columns",
    "zoo.reporting.metrics.x__accuracies__mutmut_28": EQ + "the clip to [0, 1]: a mean of scores in [0, 1] never "
    "exceeds 1",
    **{f"zoo.reporting.metrics.x_per_example_frame__mutmut_{n}": EQ + "predictions are checked to be ints >= 0 "
       "first; as an array they are compared for equality and counted, alike in any integer dtype"
       for n in (39, 41, 46, 48)},
    **{f"zoo.reporting.metrics.x_per_example_frame__mutmut_{n}": EQ + "pandas applies sort_values' kind only "
       "when sorting on one column; on these five it sorts lexicographically (stably) whatever the kind"
       for n in (178, 180, 191, 192)},
    # ---- zoo/running/journal.py
    **{f"zoo.running.journal.xǁJournalǁ_rewrite__mutmut_{n}": OUTSIDE + "which caller line the repair warning "
       "names (stacklevel): mutmut's trampolines add frames between the journal and its caller, so the test "
       "(tests/rules/test_journal_repair_messages.py::test_the_repair_warning_points_at_the_line_that_opened_"
       "the_journal) is skipped under mutmut; run plainly it fails on both mutants (checked by hand)"
       for n in (76, 79)},
    **{f"zoo.running.journal.xǁJournalǁ_scan__mutmut_{n}": EQ + "only whether the count is zero is read (a "
       "rewrite when there are copies or damage), and this change keeps it zero exactly when it was"
       for n in (34, 67, 69)},
    "zoo.running.journal.xǁJournalǁ_scan__mutmut_71": EQ + "only whether the count of unproven records is zero "
    "is read, and subtracting moves it away from zero as adding does",
    **{f"zoo.running.journal.xǁJournalǁ_parse__mutmut_{n}": EQ + "the proof flag of a line that is not read "
       "(no record: damaged) is never used" for n in (6, 11, 36)},
    **{f"zoo.running.journal.xǁJournalǁ_read_all__mutmut_{n}": EQ + "the size of each read: the file is read "
       "until its end whatever the size" for n in (14, 15)},
    # ---- zoo/models/purifier.py
    "zoo.models.purifier.xǁPurifierǁ_notify__mutmut_9": EQ + "the weight of a step without guidance is never "
    "used (its record has no term shifts)",
    "zoo.models.purifier.xǁPurifierǁ_step__mutmut_1": EQ + "the default round: every caller passes its round",
    **{f"zoo.models.purifier.xǁPurifierǁrebuild_step__mutmut_{n}": EQ + "whether the rebuilt step's graph "
       "reaches the reference or holds the second-order terms: the rebuilt value is returned detached, and its "
       "value is the same" for n in (9, 27, 33)},
    "zoo.models.purifier.xǁPurifierǁ_noise__mutmut_7": CPU + " (no device: drawn on the CPU)",
    **{f"zoo.models.purifier.xǁPurifierǁ_denoised_mean__mutmut_{n}": EQ + "torch.full infers int64 from the "
       "DDPM's int step and float32 from the VP-SDE's float time: the dtypes of both backends' model_timesteps"
       for n in (5, 9)},
    "zoo.models.purifier.xǁPurifierǁ_denoised_mean__mutmut_8": CPU + " (no device: filled on the CPU)",
    **{f"zoo.running.pool.xǁPoolǁenter__mutmut_{n}": EQ + "a new slot's iterate and clean draws are "
       "placeholders, replaced a few lines below (the attack's start, the K clean draws) before anything reads "
       "them" for n in (16, 17, 28, 29, 31)},
    **{f"zoo.running.pool.xǁPoolǁenter__mutmut_{n}": EQ + "no iteration means the slot's own t, which is 0 "
       "for a slot just entered, the iteration given" for n in (48, 51)},
    "zoo.running.pool.xǁPoolǁ__init____mutmut_4": CPU + " (no device: inputs stay on the CPU)",
    **{f"zoo.running.pool.xǁPoolǁjudge__mutmut_{n}": EQ + "the outcome's 'confirmed' entry is read by nothing "
       "(records take adv and broken_at)" for n in (52, 53, 54)},
    "zoo.running.pool.x_with_noise__mutmut_7": EQ + "device_of of a plain callable is the CPU, the device given "
    "for it",
    "zoo.running.loop.x_run_pool__mutmut_73": EQ + "in records and tally: a pool with nothing to do runs no step "
    "and returns 0, the value given for an empty todo (with progress on it shows an empty bar, as the final "
    "protocol does for an attack with nothing to do)",
    **{f"zoo.attacks.pgd_eot.{function}__*": OUTSIDE + "called once at import, when the catalogue registers "
       "PGD+EOT's entries, before mutmut switches to a mutant, so no mutant of it is ever called under mutmut; "
       "run plainly, tests/rules/test_pgd_catalogue.py fails on them (checked by hand on the title, the steps, "
       "the attacker and the label-aware prefix)" for function in ("x__builder", "x__title")},
    "zoo.models.purifier.xǁPurifierǁrebuild_step__mutmut_19": EQ + "on the last step (Sigma = 0) the other branch "
    "gives the same point: the mean shifted by 0 x gradient, with no noise",
    # ---- zoo/attacks/losses.py
    "zoo.attacks.losses.x_margins__mutmut_22": EQ + 'float("-INF") is float("-inf")',
    "zoo.attacks.losses.x_dlr_sum__mutmut_10": EQ + "topk's default dim is the last, the classes of N x C logits",
}

KINDS = {
    r"^\+.*(device=None|\.to\(None\)|device_of\(None\)|devices=None)": CPU,
    # the original line raises, or is a message string continued from the line above
    r'(?m)^-\s*(raise \w+\(|f?"[^"]*"\)?$|f?"[^"]*"\s*\)?\s*(from err)?$)': OPEN + "the wording of an error message "
    "(the error itself is raised and tested)",
}

RULES_TESTS = {
    "zoo/scoring/verdicts.py": "tests/rules/test_verdict_inputs.py",
    "zoo/scoring/intervals.py": "tests/rules/test_interval_edges.py",
    "zoo/scoring/paired.py": "tests/rules/test_paired_tests.py, tests/rules/test_interval_edges.py",
    "zoo/scoring/worst_case.py": "tests/rules/test_worst_case_inputs.py",
    "zoo/reporting/comparison.py": "tests/rules/test_interval_edges.py, tests/rules/test_paired_tests.py",
    "zoo/reporting/metrics.py": "tests/rules/test_metric_inputs.py, tests/rules/test_summary_rows.py",
    "zoo/attacks/draw_decisions.py": "tests/rules/test_repeated_draws.py, tests/rules/test_partial_breaks.py",
    "zoo/attacks/least_robust.py": "tests/rules/test_sub_attacks_alone.py, tests/rules/test_partial_breaks.py, "
    "tests/rules/test_error_messages.py",
    "zoo/attacks/gradients.py": "tests/rules/test_ablation_gradients.py, tests/rules/test_label_aware_logits.py",
    "zoo/attacks/losses.py": "tests/rules/test_verdict_inputs.py (DLR), tests/rules/test_pgd_options.py, "
    "tests/rules/test_error_messages.py, tests/rules/test_label_aware_eot.py",
    "zoo/attacks/base.py": "tests/rules/test_random_starts.py, tests/rules/test_error_messages.py",
    "zoo/attacks/pgd_eot.py": "tests/rules/test_pgd_catalogue.py, tests/rules/test_pgd_options.py",
    "zoo/running/loop.py": "tests/rules/test_loop_records.py, tests/rules/test_evaluate_entry.py",
    "zoo/running/pool.py": "tests/rules/test_pool_noise.py, tests/rules/test_loop_records.py",
    "zoo/running/draws.py": "tests/rules/test_seeded_forward.py, tests/rules/test_draws.py",
    "zoo/running/journal.py": "tests/rules/test_journal_scan.py, tests/rules/test_journal_repair_messages.py, "
    "tests/rules/test_journal_accepts.py, tests/rules/test_journal_reading.py",
    "zoo/models/guidance.py": "tests/rules/test_guidance_terms.py, tests/rules/test_gdmp_guidance.py",
    "zoo/models/purifier.py": "tests/rules/test_step_weight.py, tests/rules/test_guidance_direction.py",
    "zoo/models/diffusion/ddpm.py": "tests/rules/test_ddpm_schedule.py",
    "zoo/models/diffusion/step.py": "tests/rules/test_error_messages.py",
    "zoo/models/diffusion/vpsde.py": "tests/rules/test_guidance_direction.py, tests/rules/test_vpsde_settings.py, "
    "tests/rules/test_error_messages.py",
}

NOT_RUN: dict[str, str] = {
    "zoo/attacks/pgd_eot.py": "47 of its survivors are the catalogue's builders and titles, called at import: "
    "killed by tests/rules/test_pgd_catalogue.py only outside mutmut (see their disposition)",
}

PREAMBLE = """\
## The three gaps of issue 24

Each was planted by hand in the source (one at a time, then reverted) and the new tests run against
it; each fails there and passes on the unmutated code:

| planted bug | failing tests |
|---|---|
| `RepeatedDraws.forward` (zoo/attacks/draw_decisions.py): `correct.any(0)` -> `correct.all(0)` | tests/rules/test_partial_breaks.py: `test_a_known_row_right_on_one_draw_of_five_is_decided_as_its_class`, `test_a_known_row_wrong_on_every_draw_is_decided_as_broken`, `test_a_point_wrong_on_some_draws_is_attacked_on_every_restart[apgd-ce-3]` and `[apgd-t-6]` |
| APGD's re-decided flag in `recording` (zoo/attacks/least_robust.py): `scores > 0` -> `scores >= 1` | tests/rules/test_partial_breaks.py: `test_a_point_wrong_on_some_draws_is_attacked_on_every_restart[apgd-ce-3]` and `[apgd-t-6]` |
| a guidance sign error confined to the VP-SDE backend: `TruncatedVPSDE.condition_mean` overridden as `mean - variance * gradient` | tests/rules/test_guidance_direction.py: `test_every_guided_step_raises_log_p_and_lowers_the_distance[vpsde-sde]` and `[vpsde-ode]` (tests/test_vpsde.py and tests/test_ode.py pass on it) |
| the same confined to the ODE sampler: `p_mean_variance` returns `-variance` when `sampler == "ode"` | `test_every_guided_step_raises_log_p_and_lowers_the_distance[vpsde-ode]` (tests/test_ode.py passes on it) |

mutmut then made the same kinds of change everywhere in the configured modules; the tables below
are its results on the current layout (zoo/scoring, zoo/reporting, zoo/running). A module's *first
run* is its first run on this layout, with the tests of the selection as they were then; survivors
of a first run for which tests were then written (tests/rules/) were rerun by name and are listed
as KILLED on rerun (each of those tests fails on its mutant: that is what the rerun checks).

Every configured module has run on this layout: those changed or not yet run were run (or rerun)
on 2026-12-05 from a worktree at the report's commit; the others' results (paired, worst_case,
gradients, base, pgd_eot, loop but evaluate_entry, pool, journal, purifier, ddpm) are carried over from
the run of 2026-12-04/05 (commit b2ed30d), whose mutated functions have the same source hashes as here
(mutmut's `hash_by_function_name`), with the tests of that day. The tests written since for earlier
survivors (tests/rules/: test_sub_attacks_alone, test_ablation_gradients, test_error_messages,
test_random_starts, test_evaluate_entry, test_draws, test_gdmp_guidance, test_label_aware_eot, and
additions to test_verdict_inputs, test_vpsde_settings and test_metric_inputs) were in the selection
when their modules ran, so what they kill is mutmut's finding, not a hand check.
"""

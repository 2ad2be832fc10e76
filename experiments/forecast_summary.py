"""The plain-language summary of a forecast test (``forecast.md``).

Every sentence is generated from the result: numbers, verdict, which channels
have a route, which intervals exclude zero, which parameters are assumptions.
The only fixed text is headings, table headers and the hypothesis quoted from
the paper.
"""

from __future__ import annotations

from experiments.forecast_variance import variance_markdown
from sim.params import DynamicsParams, PolicyLevers
from sim.perceptions import CHANNEL_INPUT_LEVERS, CHANNEL_PARAMETERS
from sim.schema import parameter_specs


def _pp(value: float) -> str:
    return f"{value:+.2f} pp"


def _interval(values: list[float]) -> str:
    return f"{values[0]:+.2f} to {values[1]:+.2f}"


def _excludes_zero(interval: list[float]) -> bool:
    return interval[0] > 0 or interval[1] < 0


def _verdict_sentence(result: dict[str, object]) -> str:
    low, high = result["uncertainty_interval"]
    where = "below" if high < 0 else "above" if low > 0 else None
    if where is not None:
        direction = "lowers" if where == "below" else "raises"
        return (
            f"The interval lies entirely {where} zero: the shift {direction} approval in this simulation, so "
            f"the paper's forecast is **{result['verdict']}**."
        )
    if low == high == 0:
        return "Every replicate gives exactly no effect: the verdict is **inconclusive**."
    return "The interval includes zero: the verdict is **inconclusive**."


def _settled_sentence(result: dict[str, object]) -> str:
    se_low, se_high = result["uncertainty_interval_mc_se"]
    if result["verdict_settled"]:
        return (
            f"The Monte Carlo standard errors of the interval's ends are {se_low:.2f} and {se_high:.2f} pp; "
            "moving either end by two of them leaves the verdict unchanged."
        )
    return (
        f"The Monte Carlo standard errors of the interval's ends are {se_low:.2f} and {se_high:.2f} pp; moving an "
        f"end by two of them would change the verdict, so {result['replications']} replications do not settle it "
        "(rerun with more --replications)."
    )


def _calibration_words(result: dict[str, object]) -> str:
    """How the replicates' calibrations and coefficients were drawn, from ``result['calibration']``."""
    record = result.get("calibration") or {"choice": "shipped"}
    coefficients = "its own draw of the approval model's coefficients"
    if record["choice"] == "ensemble":
        members = sorted(set(record["members"]))
        return (
            f"with a member of the calibration ensemble drawn from its {len(record['accepted_members'])} accepted "
            f"members (members used: {', '.join(map(str, members))}) and {coefficients} within that member"
        )
    if record["choice"].startswith("member:"):
        return f"with ensemble member {record['choice'].split(':')[1]} and {coefficients}"
    return f"with the shipped calibration and {coefficients}"


def _channel_lines(result: dict[str, object]) -> list[str]:
    channels = result["channels"]
    routed = {name: value for name, value in channels.items() if value["route"]}
    silent = [name for name, value in channels.items() if not value["route"]]
    if result["decomposition_replications"] == 0:
        return [
            "The channel decomposition was not run (0 decomposition replications). Channels whose covariates moved: "
            + (", ".join(routed) or "none")
            + "; without a route: "
            + (", ".join(silent) or "none")
            + "."
        ]
    lines = [
        f"Each channel was switched off, and on alone, in the first {result['decomposition_replications']} "
        "paired replications.",
        "",
        "| channel | contribution (pp) | 95% uncertainty interval | alone (pp) | among the sanctioned (pp) | "
        "among the never-sanctioned (pp) | among those who only learned (pp) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, value in channels.items():
        if value["route"]:
            contribution = value["contribution"]
            groups = value.get("contribution_by_group") or {}
            by_group = " | ".join(
                f"{groups[g]['effect_pp']:+.2f}" if groups.get(g) else "none in the group"
                for g in ("sanctioned", "never_sanctioned", "learned_only")
            )
            lines.append(
                f"| {name} | {contribution['effect_pp']:+.2f} | {_interval(contribution['uncertainty_interval'])} | "
                f"{value['alone']['effect_pp']:+.2f} | {by_group} |"
            )
        else:
            lines.append(f"| {name} | no route in this configuration | | | | | |")
    lines += [f"| interaction (total − sum alone) | {result['channel_interaction_pp']:+.2f} | | | | | |", ""]
    unmoved = [name for name in silent if name not in CHANNEL_INPUT_LEVERS]
    without_input = [name for name in silent if name in CHANNEL_INPUT_LEVERS]
    if unmoved:
        covariates = ", ".join(f"{name} ({', '.join(channels[name]['covariates'])})" for name in unmoved)
        lines.append(
            f"No route in this configuration: the covariates of {covariates} never left their t = 0 values in any "
            "month of any replicate, so switching these channels off changes nothing."
        )
    if without_input:
        levers = ", ".join(f"{name} ({', '.join(CHANNEL_INPUT_LEVERS[name])})" for name in without_input)
        lines.append(
            f"No route in this configuration: the input levers of {levers} are 0 in both scenarios throughout, so "
            "switching these channels off changes nothing."
        )
    if routed:
        largest = max(routed, key=lambda name: abs(routed[name]["contribution"]["effect_pp"]))
        clear = [name for name in routed if _excludes_zero(routed[name]["contribution"]["uncertainty_interval"])]
        lines.append(
            f"The largest contribution is {largest}'s ({_pp(routed[largest]['contribution']['effect_pp'])}). "
            + (
                f"Contributions whose interval excludes zero: {', '.join(clear)}."
                if clear
                else "No channel's contribution interval excludes zero."
            )
        )
    off = result["all_channels_off"]
    exactly = all(value == 0 for value in off["per_replicate"])
    lines.append(
        f"With every channel switched off the effect is {'exactly zero' if exactly else _pp(off['effect_pp'])}."
    )
    return lines


def _sanction_lines(result: dict[str, object]) -> list[str]:
    """The same citizens in both arms: the sanctioned, the never-sanctioned and those who only learned."""
    groups = result["by_sanction"]
    words = {
        "sanctioned": "listed at some time under the shift",
        "never_sanctioned": "never listed in either arm",
        "learned_only": "never listed, but knowing of punitive uses under the shift and not without it",
    }
    lines = []
    for name, text in words.items():
        entry = groups[name]
        if "effect_pp" not in entry:
            lines.append(f"- Citizens {text}: none in any replicate.")
            continue
        lines.append(
            f"- Citizens {text} ({100 * entry['share_of_citizens']:.1f}% of all): {_pp(entry['effect_pp'])} "
            f"(95% uncertainty interval {_interval(entry['uncertainty_interval'])})."
        )
    return lines


def _prior_lines(result: dict[str, object]) -> list[str]:
    """What the verdict rests on: the assumptions drawn from their priors, and the Morris screening."""
    prior, morris = result.get("prior"), result.get("morris")
    lines = []
    if prior is None:
        lines.append("The assumptions were held at their register values (0 prior draws).")
    else:
        counts = prior["passed_by_check"]
        xu = " and ".join(f"{name} {counts[name]}" for name in ("repression_info", "social_order_frame"))
        runs = ", ".join(f"{name} {count}" for name, count in counts.items() if name not in ("repression_info",
                         "social_order_frame"))  # fmt: skip
        lines.append(
            f"Drawing the {len(prior['priors'])} uncertain assumptions from their priors (sim/README.md), "
            f"{prior['accepted']} of {prior['draws']} draws ({100 * prior['acceptance_rate']:.0f}%) pass the "
            f"prior-predictive checks. The in-silico Xu et al. (2022) experiments pass for {xu} draws; of the "
            f"{prior['run_after_xu_checks']} draws that pass both and were run, the checks on the runs pass for "
            f"{runs or 'none'}."
        )
        if prior["verdict"] is None:
            lines.append("Too few draws were accepted to give an interval or a verdict under the prior.")
        else:
            lines.append(
                f"Over the accepted draws the effect is {_pp(prior['effect_pp'])} (95% uncertainty interval "
                f"{_interval(prior['uncertainty_interval'])}): the forecast is **{prior['verdict']}** under the "
                f"filtered prior, against **{result['verdict']}** at the register values."
            )
    if morris is not None:
        top = ", ".join(f"{name} (μ* {morris['mu_star'][name]:.2f} pp)" for name in morris["top_three"])
        lines.append(
            f"Morris screening over the priors ({morris['points']} points, unfiltered): the effect ranges from "
            f"{_pp(morris['effect_range_pp'][0])} to {_pp(morris['effect_range_pp'][1])}, above zero at "
            f"{100 * morris['share_of_points_with_effect_above_zero']:.0f}% of the points; the assumptions that "
            f"move it most are {top}."
        )
    return lines


def _subgroup_lines(result: dict[str, object]) -> list[str]:
    groups = {g: v for g, v in result["subgroups"].items() if "effect_pp" in v}
    traits = {g: v for g, v in groups.items() if not v["compositional"]}
    lines = [*_sanction_lines(result), ""]
    if traits:
        ordered = sorted(traits, key=lambda g: traits[g]["effect_pp"])
        lines.append(
            f"Among fixed traits the effect ranges from {_pp(traits[ordered[0]]['effect_pp'])} ({ordered[0]}) to "
            f"{_pp(traits[ordered[-1]]['effect_pp'])} ({ordered[-1]}); all groups are in `subgroups.png`."
        )
    states = sorted({g.split("=")[0] for g, v in result["subgroups"].items() if v["compositional"]})
    if states:
        lines.append(
            f"{' and '.join(states)} are states the shift itself changes, so their effects compare different "
            "people and are compositional, not causal."
        )
    return lines


def _dose_lines(result: dict[str, object]) -> list[str]:
    if result["dose_response"] is None:
        return ["The dose–responses were not run (0 decomposition replications)."]
    lines = []
    for name, response in result["dose_response"].items():
        points = ", ".join(
            f"{point['value']} ({point['label']}): {_pp(point['effect_pp'])}" for point in response["points"]
        )
        lines.append(f"- **{name}** alone (baseline {response['baseline_value']}): {points}.")
    scaled = ", ".join(f"{p['label']}: {_pp(p['effect_pp'])}" for p in result["combined_dose_response"])
    lines.append(f"- **the whole shift at fractions of its size** (0 = baseline): {scaled}.")
    return lines


def _assumption_lines(result: dict[str, object]) -> list[str]:
    levers = parameter_specs(PolicyLevers)
    dynamics = parameter_specs(DynamicsParams)
    changed = [f"{name} ({levers[name].source})" for name in result["shift_levers"]]
    routed = [name for name, value in result["channels"].items() if value["route"]]
    used = sorted({p for name in routed for p in CHANNEL_PARAMETERS[name]})
    lines = []
    if changed:
        lines.append(f"Levers the shift changes, with their source: {', '.join(changed)}.")
    if used:
        values = ", ".join(f"{name} = {result['dynamics'][name]} ({dynamics[name].source})" for name in used)
        lines.append(
            f"Behavioural parameters of the channels with a route, with their source: {values}. The effect is "
            "conditional on them (ranges and reasons: sim/README.md)."
        )
    return lines


def summary_markdown(result: dict[str, object]) -> str:
    """A short plain-language summary for a policy analyst, generated from ``result``."""
    levers = ", ".join(f"{name} = {value}" for name, value in result["shift_levers"].items()) or "no lever"
    lines = [
        f"# Does `{result['shift_scenario']}` dampen support compared with `{result['baseline_scenario']}`?",
        "",
        f"The forecast tested ({result['hypothesis']['source']}):",
        "",
        f"> {result['hypothesis']['text']}",
        "",
        f"We simulated {result['n']:,} citizens for {result['months']} months in {result['replications']} paired "
        f"replications, each {_calibration_words(result)}. From month {result['shift_month']} the shift sets {levers}.",
        "",
        "## Result",
        "",
        f"At month {result['months']}, {result['shift_share']:.1f}% approve under the shift against "
        f"{result['baseline_share']:.1f}% without it: an effect of **{_pp(result['effect_pp'])}** (95% uncertainty "
        f"interval {_interval(result['uncertainty_interval'])}; mean effect 95% CI "
        f"{_interval(result['mean_effect_ci95'])}). {_verdict_sentence(result)} {_settled_sentence(result)}",
        "",
        "## What the verdict rests on",
        "",
        *_prior_lines(result),
        "",
        "## Uncertainty",
        "",
        *variance_markdown(result),
        "",
        "## Channels",
        "",
        *_channel_lines(result),
        "",
        "## Who changes most",
        "",
        *_subgroup_lines(result),
        "",
        "## Dose–response",
        "",
        *_dose_lines(result),
        "",
        "## Assumptions in play",
        "",
        *_assumption_lines(result),
        "",
    ]
    return "\n".join(lines)

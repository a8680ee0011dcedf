"""Satellite: satellites turn between directions and take images with calibrated instruments.

As in the IPC files, every satellite carries at least one instrument (the others go
to random satellites), each instrument supports a random non-empty set of modes
(every mode is supported by some instrument) and has a random calibration target,
every satellite points at a random direction with its power available, and the
goal asks for images (direction, mode) and, for about half of the satellites, a
final pointing direction.

The reference plan covers the images with few instruments (greedy set cover: the
instrument that can take the most images still missing goes next). Each satellite
then works through its instruments in turn: switch the previous one off, switch
this one on, turn to its calibration target, calibrate, and take its images
direction by direction (every mode wanted at a direction in one visit), the
direction it already points at first and its goal direction last.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from iterdeploy.errors import ConfigError
from iterdeploy.tasks.generators.base import GeneratedTask, check_int, problem_text

NAME = "satellite"
PRIMARY = "satellites"


@dataclass(frozen=True)
class Params:
    satellites: int
    """Number of satellites."""
    instruments: int
    """Number of instruments (at least one per satellite)."""
    modes: int
    """Number of image modes."""
    directions: int
    """Number of directions (2 or more)."""
    images: int
    """Number of (direction, mode) images in the goal, at most directions x modes."""

    def __post_init__(self) -> None:
        check_int(NAME, "satellites", self.satellites, 1, 500)
        check_int(NAME, "instruments", self.instruments, 1, 1000)
        check_int(NAME, "modes", self.modes, 1, 50)
        check_int(NAME, "directions", self.directions, 2, 500)
        check_int(NAME, "images", self.images, 1, 10_000)
        if self.instruments < self.satellites:
            raise ConfigError(f"{NAME}: parameter 'instruments' must be at least satellites={self.satellites} "
                              f"(each satellite carries one), got {self.instruments}")
        if self.images > self.directions * self.modes:
            raise ConfigError(f"{NAME}: parameter 'images' must be at most directions x modes="
                              f"{self.directions * self.modes}, got {self.images}")


def from_size(size: int) -> Params:
    """Primary size = satellites; instruments = 2 x satellites - 1, modes = min(5, 1 + satellites // 4),
    directions = satellites + 1, images = min(2 x satellites, directions x modes) (IPC easy: 3 satellites/
    5 instruments/1 mode/4 directions, 6/11/2/7, 10/19/3/10, with 1 to 21 images)."""
    check_int(NAME, "size (satellites)", size, 1, 500)
    modes = min(5, 1 + size // 4)
    return Params(satellites=size, instruments=2 * size - 1, modes=modes, directions=size + 1,
                  images=min(2 * size, (size + 1) * modes))


def image_plan(pointing: dict[str, int], on_board: dict[str, str], supports: dict[str, list[int]],
               target: dict[str, int], images: list[tuple[int, int]], goal_pointing: dict[str, int]) -> list[str]:
    """Satellites, instruments in name order; directions and modes are numbers (dir<d>, mod<m>)."""
    missing = set(images)
    chosen: list[tuple[str, list[tuple[int, int]]]] = []
    while missing:
        ins = max(supports, key=lambda i: (sum(m in supports[i] for _, m in missing), -_index(i)))
        covered = sorted((d, m) for d, m in missing if m in supports[ins])
        chosen.append((ins, covered))
        missing -= set(covered)
    plan: list[str] = []
    satellites = sorted(pointing, key=_index)
    for sat in satellites:
        here = pointing[sat]
        powered = None

        def turn(to: int) -> None:
            nonlocal here
            if to != here:
                plan.append(f"(turn_to {sat} dir{to} dir{here})")
                here = to

        for ins, covered in sorted((c for c in chosen if on_board[c[0]] == sat), key=lambda c: _index(c[0])):
            if powered is not None:
                plan.append(f"(switch_off {powered} {sat})")
            plan.append(f"(switch_on {ins} {sat})")
            powered = ins
            turn(target[ins])
            plan.append(f"(calibrate {sat} {ins} dir{target[ins]})")
            directions = sorted({d for d, _ in covered},
                                key=lambda d: (d != here, d == goal_pointing.get(sat), d))
            for d in directions:
                turn(d)
                plan += [f"(take_image {sat} dir{d} {ins} mod{m})" for dd, m in covered if dd == d]
        if sat in goal_pointing:
            turn(goal_pointing[sat])
    return plan


def _index(name: str) -> int:
    return int(name.lstrip("abcdefghijklmnopqrstuvwxyz"))


def generate(params: Params, rng: random.Random, name: str = "satellite") -> GeneratedTask:
    satellites = [f"sat{i}" for i in range(1, params.satellites + 1)]
    instruments = [f"ins{i}" for i in range(1, params.instruments + 1)]
    modes = list(range(1, params.modes + 1))
    directions = list(range(1, params.directions + 1))
    on_board = {ins: satellites[i] if i < len(satellites) else rng.choice(satellites)
                for i, ins in enumerate(instruments)}
    supports = {}
    for ins in instruments:
        supports[ins] = [m for m in modes if rng.random() < 0.5] or [rng.choice(modes)]
    for m in modes:
        if not any(m in s for s in supports.values()):
            supports[rng.choice(instruments)].append(m)
            for s in supports.values():
                s.sort()
    target = {ins: rng.choice(directions) for ins in instruments}
    pointing = {sat: rng.choice(directions) for sat in satellites}
    images = sorted(rng.sample([(d, m) for d in directions for m in modes], params.images))
    goal_pointing = {sat: rng.choice(directions) for sat in satellites if rng.random() < 0.5}
    init = [f"(pointing {s} dir{pointing[s]})" for s in satellites] + [f"(power_avail {s})" for s in satellites]
    init += [f"(calibration_target {i} dir{target[i]})" for i in instruments]
    init += [f"(on_board {i} {on_board[i]})" for i in instruments]
    init += [f"(supports {i} mod{m})" for i in instruments for m in supports[i]]
    goal = [f"(pointing {s} dir{d})" for s, d in goal_pointing.items()]
    goal += [f"(have_image dir{d} mod{m})" for d, m in images]
    text = problem_text(NAME, name, params,
                        [(satellites, "satellite"), (instruments, "instrument"), ([f"mod{m}" for m in modes], "mode"),
                         ([f"dir{d}" for d in directions], "direction")],
                        init, goal)
    return GeneratedTask(text, tuple(image_plan(pointing, on_board, supports, target, images, goal_pointing)))

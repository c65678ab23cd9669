"""Test data for profiling: files made in the test, no fixtures on disk."""


def credit_csv(rows: int = 200, *, seed: int = 1) -> str:
    """A small credit-decision table: a label, a sensitive attribute, PII, numbers and categories."""
    import random

    rnd = random.Random(seed)
    lines = ["id,age,income,region,gender,email,approved"]
    for i in range(rows):
        gender = rnd.choice(["F", "M"])
        approved = int(rnd.random() < (0.55 if gender == "M" else 0.4))
        lines.append(
            f"{i},{rnd.randint(18, 80)},{rnd.randint(1000, 9000)}.5,{rnd.choice(['north', 'south', 'east'])},"
            f"{gender},user{i}@example.org,{approved}"
        )
    return "\n".join(lines) + "\n"

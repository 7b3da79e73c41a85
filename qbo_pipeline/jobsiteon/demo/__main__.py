"""`python -m qbo_pipeline.jobsiteon.demo --seed 7 --scale 1 --stats`: generate the demo books,
print counts and planted cases, optionally load JobsiteOn and seed an emulator company."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from qbo_pipeline.jobsiteon.demo import _jsonable, generate_books


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qbo_pipeline.jobsiteon.demo",
                                     description="Generate the JobsiteOn/QBO demo books.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=None,
                        help="the books' 'today' (YYYY-MM-DD); default: today")
    parser.add_argument("--stats", action="store_true", help="print counts and planted cases")
    parser.add_argument("--scenarios", action="store_true", help="print the planted cases as JSON")
    parser.add_argument("--load", metavar="WORKSPACE_ID",
                        help="load into JobsiteOn's database (JOBSITEON_DATABASE_URL)")
    parser.add_argument("--seed-qbo", metavar="BASE_URL", help="seed an emulator company")
    parser.add_argument("--realm", help="the emulator realm id for --seed-qbo")
    args = parser.parse_args(argv)
    books = generate_books(args.seed, args.scale, as_of=args.as_of)
    if args.stats or not (args.load or args.seed_qbo or args.scenarios):
        print(books.summary())
    if args.scenarios:
        print(json.dumps(_jsonable(books.scenarios), indent=2, default=str))
    if args.load:
        from qbo_pipeline.jobsiteon.store import JobsiteOnStore

        counts = books.load_jobsiteon(JobsiteOnStore.from_url(), args.load)
        print(f"loaded into workspace {args.load}: {sum(counts.values()):,} rows")
    if args.seed_qbo:
        if not args.realm:
            parser.error("--seed-qbo needs --realm")
        books.seed_qbo(args.seed_qbo, args.realm)
        print(f"seeded QBO realm {args.realm}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

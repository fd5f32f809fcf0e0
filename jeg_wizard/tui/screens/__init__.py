"""One screen per stage: Welcome, Questions, Plan, Run, Finish (and a small confirm dialog)."""

"""What a person reads about a run: status, the HTML report, failure tables, the cost estimate,
and the outcome records they are built from."""

"""Not copied (copier.yml excludes it): it names template/tests apart from tests/ in the root pytest."""

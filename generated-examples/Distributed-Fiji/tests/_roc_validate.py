"""roc-validator's issues with a crate, offline, as JSON: `python _roc_validate.py CRATE CACHE [SEVERITY]`.

Run by _crate_checks.validator_issues in an interpreter that has roc-validator (this one, or the venv of
its own that .ci/roc-validator/install.sh makes: it pins rich<14). It imports nothing of this repository.

roc-validator reads the crate as RDF, for which it fetches the JSON-LD contexts the crate names, through an
HTTP cache that its offline mode serves alone. The crate names one remote context, RO-Crate 1.3's, which
the `rocrate` package ships: the cache is filled from that copy, and the validator never reaches a network.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

RO_CRATE = "https://w3id.org/ro/crate/1.3"


def issues(folder: Path, cache: Path, severity: str = "REQUIRED") -> list[str]:
    """roc-validator's issues at `severity` and above, against RO-Crate 1.3, offline."""
    import requests
    import requests_cache
    import rocrate
    import urllib3
    from requests.adapters import BaseAdapter
    from rocrate_validator import services

    context = (Path(rocrate.__file__).parent / "data" / "ro-crate.jsonld").read_bytes()

    class ShippedContext(BaseAdapter):
        """Answers the context's URL with the copy the rocrate package ships."""

        def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            response = requests.Response()
            response.status_code, response.url, response.request = 200, request.url or "", request
            headers = {"Content-Type": "application/ld+json"}
            response.headers.update(headers)
            response.raw = urllib3.HTTPResponse(
                body=io.BytesIO(context), headers=headers, status=200, preload_content=False, request_url=request.url
            )
            return response

        def close(self) -> None:
            pass

    with requests_cache.CachedSession(cache_name=str(cache), backend="sqlite", expire_after=-1) as session:
        session.mount(RO_CRATE + "/context", ShippedContext())
        assert session.get(RO_CRATE + "/context").status_code == 200
    result = services.validate(
        {
            "rocrate_uri": str(folder),
            "profile_identifier": "ro-crate-1.3",
            "requirement_severity": severity,
            "offline": True,
            "cache_path": str(cache),
        }
    )
    return [f"{i.severity.name} {i.check.identifier}: {i.message} ({i.violatingEntity})" for i in result.get_issues()]


if __name__ == "__main__":
    print(json.dumps(issues(Path(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:4])))

"""An Airflow auth manager with rights per DAG, for the api-servers of the tests: Airflow's simple auth manager
(users, roles, logins) plus, for the users named in FILEPOOL_TEST_DAG_RIGHTS (JSON: {user: {dag_id: ["GET",
"PUT"]}}), exactly those rights and none on any other DAG. Airflow loads it as [core] auth_manager, as it would
FAB's or Keycloak's (neither is installed here); the File transfers page only asks it what any auth manager
answers: is_authorized_dag and get_authorized_dag_ids."""

from __future__ import annotations

import json
import os
from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager


def _rights(user: Any) -> dict[str, list[str]] | None:
    return json.loads(os.environ.get("FILEPOOL_TEST_DAG_RIGHTS", "{}")).get(user.get_name())


class PerDagAuthManager(SimpleAuthManager):
    def is_authorized_dag(self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None) -> bool:
        rights = _rights(user)
        if rights is None:
            return super().is_authorized_dag(method=method, user=user, access_entity=access_entity, details=details)
        if details is None or not details.id:  # every DAG: nobody listed here has that
            return False
        return method in rights.get(details.id, [])

# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return the changes it would make (and the statements or API calls it would run) without making them.
  diff_mode:
    description: Returns details on what has changed (or would change in check mode) when run in diff mode.
'''

    # Modules in the dts action group (module_defaults: group/dtsops.switchover.dts).
    ACTION_GROUP_DTS = r'''
options: {}
attributes:
  action_group:
    description: Use C(group/dtsops.switchover.dts) in C(module_defaults) to set the credentials once.
    support: full
    membership:
      - dtsops.switchover.dts
'''

    # Modules in the db action group (module_defaults: group/dtsops.switchover.db).
    ACTION_GROUP_DB = r'''
options: {}
attributes:
  action_group:
    description: Use C(group/dtsops.switchover.db) in C(module_defaults) to set the connection once.
    support: full
    membership:
      - dtsops.switchover.db
'''

    # Read-only modules.
    INFO_MODULE = r'''
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This module only reads and works the same in check mode.
  diff_mode:
    support: N/A
    details:
      - This module does not change anything.
'''

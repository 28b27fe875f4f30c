"""The platforms' clock. Taobao, Tmall and JD run on Beijing time (Asia/Shanghai): every
deadline's working hours, report day, penalty month and import date in SPEC.md is a
day or an hour of this zone, whatever zone a user's browser shows. Stored instants stay
UTC. Standard library only: the pure modules (tickets.sla, tickets.fingerprints) use it.
"""

from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

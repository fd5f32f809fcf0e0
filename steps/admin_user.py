"""README: `sudo adduser hubadmin` (PAM login). The password goes to chpasswd on stdin only."""

from jeg_wizard.actions import UserAccount
from jeg_wizard.engine import Step


def build(ctx):
    u = ctx.answers.users
    return [UserAccount(u.admin, ctx.secrets.admin_password, u.admin_password_hash)]


STEP = Step(
    "admin_user", "Add the hub admin user", "sudo adduser hubadmin", build, roles=("all", "hub"), needs=("system",)
)

#!/usr/bin/env python3
"""The web console in a real browser: Debian's chromium, driven headless by Playwright.

    console.py main --base URL --email E --password P --shots DIR
        signs in by keyboard, creates an org and waits (no reload) until its provisioning steps say ready, makes a role,
        adds a member with it and changes their role to auditor, creates an API key and sees it once, rotates it, then verifies the org's audit chain (intact)
        and downloads its CSV export; prints {"org": …, "key": …, "rotated": …}
    console.py tampered --base URL --email E --password P --shots DIR --org ID
        signs in (the auditor) and verifies the org's chain; prints {"broken_seq": …} as the page reports it
    console.py cafa --base URL --email E --password P --shots DIR --org ID
        signs in, sees the org's run with its progress and its dataset's (empty) leaderboard, opens the org's first CAFA
        evaluation; prints its id and how many curves and Fmax points are drawn
    console.py sso --base URL --email E --password P --shots DIR --org SLUG
        signs in through the org's identity provider (the test's provider approves at once as E): by the org's short
        name, then its provider's link; prints {"orgs": [ids of the orgs listed], "unknown_status": …}

Every page is saved as a PNG under --shots. Exits non-zero, saying why, when anything is not as expected.
Run by ConsoleBrowserTests; `provisioning/test` installs chromium and playwright.
"""
import argparse
import json
import os
import re
import sys

from playwright.sync_api import expect, sync_playwright

CHROMIUM = os.environ.get("TESSERA_CHROMIUM", "/usr/bin/chromium")


def check(condition, message):
    if not condition:
        print(f"console.py: {message}", file=sys.stderr)
        sys.exit(1)


def sign_in(page, args):
    response = page.goto(f"{args.base}/console")
    check(page.url.endswith("/console/login"), f"an anonymous visit should land on the sign-in page, not {page.url}")
    policy = response.headers.get("content-security-policy", "")
    check("script-src 'self'" in policy and "unsafe-inline" not in policy, f"weak Content-Security-Policy: {policy!r}")
    page.screenshot(path=f"{args.shots}/01-sign-in.png", full_page=True)
    # By keyboard, as labels name the fields.
    page.get_by_label("Email").fill(args.email)
    page.keyboard.press("Tab")
    page.keyboard.type(args.password)
    page.keyboard.press("Enter")
    signed_in(page, args, "signing in")


def signed_in(page, args, how):
    """Waits for the console's first page; checks the session cookie (HttpOnly, Strict, not on the page) and
    returns the browser's cookies by name."""
    page.wait_for_url(f"{args.base}/console")
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies.get("tessera_session")
    check(session is not None, f"no session cookie after {how}")
    check(session["httpOnly"] and session["sameSite"] == "Strict", f"session cookie not HttpOnly/Strict: {session}")
    check(session["value"] not in page.content(), "the session token is on the page")
    return cookies


def main(page, args):
    sign_in(page, args)
    page.screenshot(path=f"{args.shots}/02-orgs.png", full_page=True)
    # A form without the session's CSRF token is refused.
    forged = page.request.post(f"{args.base}/console/orgs", form={"name": "Forged"})
    check(forged.status == 403, f"a POST without a CSRF token answered {forged.status}")

    page.get_by_label("Name", exact=True).fill("Browser Labs")
    page.get_by_role("button", name="Create", exact=True).click()
    page.wait_for_url(re.compile(r".*/console/orgs/[0-9a-f-]{36}$"))
    org = page.url.rsplit("/", 1)[1]
    # The steps arrive while the page stays open.
    expect(page.locator("#org-status")).to_have_text("ready", timeout=90_000)
    steps = page.locator("#steps li")
    check(steps.count() > 0, "no provisioning steps shown")
    for text in steps.all_inner_texts():
        check(text.endswith("done"), f"a step is not done: {text!r}")
    page.screenshot(path=f"{args.shots}/03-org-ready.png", full_page=True)

    page.get_by_role("link", name="Roles").click()
    page.get_by_label("Name", exact=False).first.fill("reviewer")
    page.get_by_label("predictions.read").check()
    page.get_by_label("evaluations.read").check()
    page.get_by_role("button", name="Create role").click()
    expect(page.locator("tr", has_text="reviewer")).to_contain_text("evaluations.read, predictions.read")
    page.screenshot(path=f"{args.shots}/11-roles.png", full_page=True)
    page.get_by_role("link", name="Organization").click()

    page.get_by_role("link", name="Members").click()
    page.get_by_label("Email", exact=True).fill(args.auditor)
    # The org's own role is offered beside the system ones; then the member's role is changed to auditor.
    page.get_by_label("Role", exact=True).select_option("reviewer")
    page.get_by_role("button", name="Add member").click()
    row = page.locator("tr", has_text=args.auditor)
    expect(row).to_contain_text("reviewer")
    page.get_by_label(f"Role of {args.auditor}", exact=True).select_option("auditor")
    page.get_by_role("button", name=f"Set the role of {args.auditor}").click()
    row = page.locator("tr", has_text=args.auditor)
    expect(row).to_contain_text("auditor")
    expect(page.locator("tr", has_text=args.email)).to_contain_text("owner")
    page.screenshot(path=f"{args.shots}/08-members.png", full_page=True)
    page.get_by_role("link", name="Organization").click()

    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name", exact=True).fill("browser key")
    page.get_by_label("Role").select_option("viewer")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key").inner_text().strip()
    check(key.startswith("tsk_"), f"no key shown after creating one: {key!r}")
    page.screenshot(path=f"{args.shots}/04-key-once.png", full_page=True)
    page.goto(f"{args.base}/console/orgs/{org}/keys")
    check(key not in page.content(), "the key is shown a second time")
    check(key.rsplit("_", 1)[0] in page.content(), "the key's prefix is not listed")
    page.screenshot(path=f"{args.shots}/05-keys.png", full_page=True)
    # Rotated with an hour's grace: a new key, shown once; the first one still works (the test checks both).
    page.get_by_role("button", name="Rotate browser key").click()
    rotated = page.locator("#new-key").inner_text().strip()
    check(rotated.startswith("tsk_") and rotated != key, f"no new key shown after rotating: {rotated!r}")

    page.goto(f"{args.base}/console/orgs/{org}/audit")
    page.get_by_role("button", name="Verify the chain").click()
    expect(page.locator("#verdict")).to_contain_text("Intact")
    check(page.locator("td", has_text="api_key.create").count() > 0, "the key's creation is not in the audit log")
    page.screenshot(path=f"{args.shots}/06-audit-intact.png", full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV", exact=True).click()
    with open(download.value.path(), encoding="utf-8") as exported:
        rows = exported.read().splitlines()
    check(rows and rows[0].startswith("seq,"), f"the CSV export has no header: {rows[:1]}")
    check(any(",api_key.create," in row for row in rows[1:]), "the CSV export lacks the key's creation")
    print(json.dumps({"org": org, "key": key, "rotated": rotated}))


def cafa(page, args):
    sign_in(page, args)
    page.goto(f"{args.base}/console/orgs/{args.org}")
    page.get_by_role("link", name="Runs").click()
    progress = page.locator("progress")
    expect(progress).to_have_count(1)
    check(progress.get_attribute("max") == "2", f"the run's progress is not out of its 2 items: {progress.get_attribute('max')}")
    page.screenshot(path=f"{args.shots}/10-runs.png", full_page=True)
    page.get_by_role("link", name="Organization").click()
    page.get_by_role("link", name="Datasets").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr")).to_contain_text("sentiment")
    page.get_by_role("link", name="Leaderboard of sentiment").click()
    page.get_by_label("Rank by").select_option("macro_f1")
    page.get_by_role("button", name="Rank").click()
    expect(page.get_by_text("No run of this dataset has been evaluated yet.")).to_be_visible()
    page.goto(f"{args.base}/console/orgs/{args.org}")
    page.get_by_role("link", name="CAFA evaluations").click()
    link = page.locator("tbody a").first
    evaluation = link.get_attribute("href").rsplit("/", 1)[1]
    link.click()
    chart = page.get_by_role("img", name="Precision–recall by namespace, Fmax marked")
    expect(chart).to_be_visible()
    expect(page.locator("td", has_text="biological_process")).to_have_count(1)
    page.screenshot(path=f"{args.shots}/09-cafa.png", full_page=True)
    print(json.dumps({
        "evaluation": evaluation,
        "curves": page.locator("svg polyline.curve").count(),
        "fmax_points": page.locator("svg circle.fmax").count(),
    }))


def tampered(page, args):
    sign_in(page, args)
    page.get_by_role("link", name="Browser Labs").click()
    check(page.get_by_role("link", name="API keys").count() == 0, "an auditor is offered the keys page")
    page.get_by_role("link", name="Audit log").click()
    page.get_by_role("button", name="Verify the chain").click()
    verdict = page.locator("#verdict")
    expect(verdict).to_contain_text("Broken at seq")
    page.screenshot(path=f"{args.shots}/07-audit-broken.png", full_page=True)
    seq = re.search(r"Broken at seq (\d+)", verdict.inner_text())
    print(json.dumps({"broken_seq": int(seq.group(1))}))


def sso(page, args):
    # An org no one signs in to with a provider says so, on the sign-in page.
    unknown = page.goto(f"{args.base}/console/login/sso?org=no-such-org")
    check(page.get_by_role("alert").count() == 1, "no reason shown for an org without single sign-on")
    page.goto(f"{args.base}/console/login")
    page.get_by_label("Organization").fill(args.org)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/console/login/sso\?org="))
    page.screenshot(path=f"{args.shots}/15-single-sign-on.png", full_page=True)
    links = page.get_by_role("link", name=re.compile(r"^Sign in with "))
    check(links.count() == 1, f"expected the org's one provider, found {links.count()} links")
    links.first.focus()
    page.keyboard.press("Enter")
    cookies = signed_in(page, args, "signing in through the provider")
    check("tessera_oidc" not in cookies, "the spent sign-in's cookie is still kept")
    page.screenshot(path=f"{args.shots}/16-signed-in-by-provider.png", full_page=True)
    orgs = [
        href.rsplit("/", 1)[1]
        for href in page.locator("a[href^='/console/orgs/']").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    ]
    print(json.dumps({"orgs": orgs, "unknown_status": unknown.status}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("phase", choices=["main", "tampered", "cafa", "sso"])
    parser.add_argument("--base", required=True)
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--shots", required=True)
    parser.add_argument("--org")
    parser.add_argument("--auditor", default="bo@example.test", help="whom main adds as an auditor")
    args = parser.parse_args()
    os.makedirs(args.shots, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        try:
            {"main": main, "tampered": tampered, "cafa": cafa, "sso": sso}[args.phase](page, args)
        except Exception as error:  # a failed expectation: say which, keep a picture of the page
            page.screenshot(path=f"{args.shots}/failed-{args.phase}.png", full_page=True)
            print(f"console.py: {error}", file=sys.stderr)
            sys.exit(1)
        finally:
            browser.close()

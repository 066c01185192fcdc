"""Drives the duro web console in headless Chromium with Playwright.

Run by tests/console.rs, which sets the scene through the API and passes it
as one JSON argument: the console's URL ("url"), a second server's that asks
for an API token ("guarded_url", "token"), the Chromium binary, the
screenshot folder, a component file to upload ("upload"), and the digests of
the `hello` and `waiter` components. Each check waits for the page (up to
Playwright's timeout) and fails with what it saw; on a failure the page is
saved as failure.png beside the screenshots.
"""

import base64
import json
import pathlib
import sys

from playwright.sync_api import Page, expect, sync_playwright

# Longest a check waits for the page, in ms: the console polls every 2 s.
TIMEOUT_MS = 20_000


def rows(page: Page):
    return page.locator("table.list tbody tr")


def workflows_page(page: Page, scene: dict, shots: pathlib.Path) -> None:
    """Counts, filters, search, local times and keyboard on the list."""
    page.goto(scene["url"] + "/")
    expect(page.locator(".count-completed .count-n")).to_have_text("5")
    expect(page.locator(".count-failed .count-n")).to_have_text("1")
    expect(page.locator(".count-stuck .count-n")).to_have_text("1")
    expect(page.locator(".count-waiting .count-n")).to_have_text("3")
    expect(rows(page)).to_have_count(10)

    # A status count filters the list, and the filter is in the URL.
    page.locator(".count-failed").click()
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("crash-1")
    assert "status=failed" in page.url, page.url
    page.get_by_label("Status", exact=True).select_option("")
    expect(rows(page)).to_have_count(10)

    # By component, and by id prefix (after `/` focuses the search).
    # `hello` runs the three greetings, the schedule's one, and `broken`
    # since its code was swapped.
    page.get_by_label("Component", exact=True).select_option(scene["hello"])
    expect(rows(page)).to_have_count(5)
    page.get_by_label("Component", exact=True).select_option("")
    page.locator("body").press("/")
    search = page.get_by_label("Id starts with", exact=True)
    expect(search).to_be_focused()
    search.fill("greet-")
    expect(rows(page)).to_have_count(3)
    search.fill("greet-ada")
    expect(rows(page)).to_have_count(1)
    search.fill("")
    expect(rows(page)).to_have_count(10)

    # Times are local, with UTC on hover.
    title = page.locator("table.list time").first.get_attribute("title")
    assert title.endswith("Z (UTC)"), title
    page.screenshot(path=shots / "workflows.png", full_page=True)

    # Keyboard: tab to a workflow's link and open it with Enter.
    link = page.locator("a.workflow-link", has_text="greet-ada")
    link.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#workflow-title")).to_have_text("greet-ada")
    expect(page.locator(".status").first).to_have_text("completed")
    expect(page.locator("pre[aria-label=output]")).to_contain_text("ada")


def effects_workflow(page: Page, scene: dict, shots: pathlib.Path) -> None:
    """The journal as a timeline: each HTTP attempt a row, failures marked."""
    page.goto(scene["url"] + "/#/workflows/order-1")
    expect(page.locator("#workflow-title")).to_have_text("order-1")
    expect(page.locator(".status").first).to_have_text("completed")
    charges = page.locator(".entry", has_text="/payments/charge")
    expect(charges).to_have_count(3)
    expect(charges.nth(0)).to_contain_text("attempt 1 → 500, retried after")
    expect(charges.nth(1)).to_contain_text("attempt 2 → 500, retried after")
    expect(page.locator(".entry.entry-failed")).to_have_count(2)
    expect(charges.nth(2)).to_contain_text("attempt 3 → 200")
    # An attempt opens to its request and response, with how long it took.
    charges.nth(0).locator("summary").click()
    expect(charges.nth(0).locator("pre[aria-label^=response]")).to_contain_text('"status": 500')
    expect(charges.nth(0).locator(".took")).to_contain_text("ms")
    page.screenshot(path=shots / "workflow.png", full_page=True)


def scheduled_workflow(page: Page, scene: dict, shots: pathlib.Path) -> None:
    """A workflow a schedule started links to its schedule, which lists its
    runs and can be paused, resumed and triggered from the page."""
    page.goto(scene["url"] + "/#/workflows/" + scene["scheduled"])
    expect(page.locator("#workflow-title")).to_have_text(scene["scheduled"])
    page.locator("a.schedule-link").click()
    expect(page.locator("#schedule-title")).to_have_text("greeter")
    # Its one run (max_runs 1) is done, so it has ended.
    expect(page.locator(".title-row .status")).to_have_text("ended")
    run = page.locator("table.list tbody tr", has_text=scene["scheduled"])
    expect(run.locator(".status")).to_have_text("completed")
    page.get_by_label("Note (optional)", exact=True).fill("maintenance")
    page.get_by_role("button", name="Pause", exact=True).click()
    expect(page.locator(".notice")).to_contain_text("Paused: maintenance")
    expect(page.locator(".schedule-note")).to_have_text("maintenance")
    page.get_by_role("button", name="Resume", exact=True).click()
    expect(page.locator(".notice")).to_contain_text("Resumed")
    page.get_by_role("button", name="Trigger now").click()
    expect(page.locator(".notice")).to_contain_text("Started workflow greeter:")
    expect(page.locator("table.list tbody tr")).to_have_count(2)
    page.screenshot(path=shots / "schedule.png", full_page=True)
    # The schedules page lists it; its workflows are a filter of the list.
    page.goto(scene["url"] + "/#/schedules")
    expect(rows(page).filter(has_text="greeter")).to_have_count(1)
    page.goto(scene["url"] + "/#/workflows?schedule=greeter")
    expect(page.locator(".chip-row")).to_contain_text("greeter")
    expect(rows(page)).to_have_count(2)


def failed_workflow(page: Page, scene: dict, shots: pathlib.Path) -> None:
    page.goto(scene["url"] + "/#/workflows?status=failed")
    page.locator("a.workflow-link", has_text="crash-1").click()
    error = page.locator(".error-text")
    expect(error).to_contain_text("the console test's trap")
    expect(error).to_contain_text("wasm backtrace")
    page.screenshot(path=shots / "workflow-failed.png", full_page=True)


def stuck_workflow(page: Page, scene: dict, shots: pathlib.Path) -> None:
    page.goto(scene["url"] + "/#/workflows/broken")
    expect(page.locator("#workflow-title")).to_have_text("broken")
    expect(page.locator("#error-title")).to_have_text("Non-determinism")
    seq = page.locator(".divergence-seq").inner_text()
    expect(page.locator(".divergence-recorded")).to_have_text('receive-signal("go")')
    expect(page.locator(".divergence-attempted")).not_to_be_empty()
    # The entry at that seq is marked and open in the timeline.
    diverged = page.locator(f"#seq-{seq}.diverged")
    expect(diverged).to_be_visible()
    expect(diverged.locator("details")).to_have_attribute("open", "")
    page.screenshot(path=shots / "workflow-stuck.png", full_page=True)

    # Upgrade it back to the code that wrote its journal, after the check.
    page.get_by_label("Component (digest or name)", exact=True).fill("waiter")
    page.get_by_role("button", name="Check replay").click()
    expect(page.locator(".notice")).to_contain_text("The journal replays on waiter")
    page.get_by_role("button", name="Upgrade to waiter").click()
    expect(page.locator(".notice")).to_contain_text("Upgraded")
    expect(page.locator(".status").first).to_have_text("waiting", timeout=TIMEOUT_MS)


def signal_workflow(page: Page, scene: dict, shots: pathlib.Path) -> None:
    page.goto(scene["url"] + "/#/workflows/approve-1")
    expect(page.locator("#workflow-title")).to_have_text("approve-1")
    expect(page.locator(".status").first).to_have_text("waiting")
    # The signal it waits for fills the form's name.
    expect(page.get_by_label("Signal name", exact=True)).to_have_value("go")
    page.get_by_label("Payload (JSON)", exact=True).fill("{not json")
    page.get_by_role("button", name="Send signal").click()
    expect(page.locator(".notice")).to_contain_text("not JSON")
    page.get_by_label("Payload (JSON)", exact=True).fill('{"approved": true}')
    page.get_by_role("button", name="Send signal").click()
    expect(page.locator(".notice")).to_contain_text("Signal go stored")
    expect(page.locator(".status").first).to_have_text("completed", timeout=TIMEOUT_MS)
    expect(page.locator("pre[aria-label=output]")).to_contain_text('"approved": true')
    expect(page.locator(".entry .kind", has_text="receive_signal")).to_have_count(1)
    page.locator(".entry summary", has_text="receive_signal").click()
    expect(page.locator(".entry pre[aria-label^=response]").first).to_be_visible()
    page.screenshot(path=shots / "workflow-signal.png", full_page=True)


def cancel_and_terminate(page: Page, scene: dict) -> None:
    for id, button, confirm, status in [
        ("cancel-me", "Cancel", "Confirm cancel", "cancelled"),
        ("terminate-me", "Terminate", "Confirm terminate", "terminated"),
    ]:
        page.goto(f"{scene['url']}/#/workflows/{id}")
        expect(page.locator("#workflow-title")).to_have_text(id)
        expect(page.locator(".status").first).to_have_text("waiting")
        page.get_by_role("button", name=button, exact=True).click()
        page.get_by_role("button", name=confirm).click()
        expect(page.locator(".notice")).not_to_contain_text("Sending")
        expect(page.locator(".notice.ok")).to_be_visible()
        expect(page.locator(".status").first).to_have_text(status, timeout=TIMEOUT_MS)


def components_page(page: Page, scene: dict, shots: pathlib.Path) -> None:
    page.goto(scene["url"] + "/#/components")
    # Five greetings: three, the schedule's tick and its trigger (`broken`
    # was moved back to `waiter` by its upgrade).
    hello_row = rows(page).filter(has_text="hello")
    expect(hello_row.locator("a", has_text="workflows")).to_have_text("5 workflows")
    # Upload by dropping a file on the drop zone.
    page.get_by_label("Name (optional)", exact=True).fill("countdown")
    data = base64.b64encode(pathlib.Path(scene["upload"]).read_bytes()).decode()
    page.evaluate(
        """([data, name]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "application/wasm" }));
            const zone = document.querySelector("[data-testid=dropzone]");
            for (const type of ["dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
            }
        }""",
        [data, "countdown.wasm"],
    )
    expect(page.locator(".notice")).to_contain_text("Stored: workflow sha256:")
    expect(page.locator(".notice")).to_contain_text("as countdown")
    expect(rows(page).filter(has_text="countdown")).to_have_count(1)
    # A name's versions open on demand.
    rows(page).filter(has_text="waiter").get_by_role("button", name="versions").click()
    expect(rows(page).filter(has_text="waiter").locator(".versions li")).to_have_count(1)
    page.screenshot(path=shots / "components.png", full_page=True)


def dark_and_phone(browser, scene: dict, shots: pathlib.Path) -> None:
    """Dark mode (the system's), and a phone's width without sideways scrolling."""
    dark = browser.new_page(color_scheme="dark", viewport={"width": 1280, "height": 900})
    dark.goto(scene["url"] + "/#/workflows/approve-1")
    expect(dark.locator(".status").first).to_have_text("completed")
    background = dark.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(21, 23, 27)", background
    dark.screenshot(path=shots / "dark.png", full_page=True)
    dark.close()

    # The theme button overrides the system's: auto, then light, then dark.
    chosen = browser.new_page(color_scheme="light")
    chosen.goto(scene["url"] + "/")
    assert chosen.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(247, 247, 245)"
    chosen.get_by_role("button", name="Theme: auto").click()
    chosen.get_by_role("button", name="Theme: light").click()
    expect(chosen.get_by_role("button", name="Theme: dark")).to_be_visible()
    expect(chosen.locator("html")).to_have_attribute("data-theme", "dark")
    background = chosen.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(21, 23, 27)", background
    chosen.close()

    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone.goto(scene["url"] + "/")
    expect(rows(phone)).to_have_count(11)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the list is {width} px wide on a 390 px screen"
    phone.screenshot(path=shots / "phone.png", full_page=True)
    phone.goto(scene["url"] + "/#/workflows/broken")
    expect(phone.locator(".entry").first).to_be_visible()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the workflow page is {width} px wide on a 390 px screen"
    phone.close()


def token_prompt(browser, scene: dict) -> None:
    """A server with tokens: the console asks for one and keeps it for the tab."""
    page = browser.new_page()
    page.goto(scene["guarded_url"] + "/")
    expect(page.locator("#token-title")).to_be_visible()
    page.get_by_label("Token", exact=True).fill("not-the-token-0123456789")
    page.get_by_role("button", name="Use token").click()
    expect(page.locator("#token-title")).to_be_visible()
    page.get_by_label("Token", exact=True).fill(scene["token"])
    page.get_by_role("button", name="Use token").click()
    expect(page.locator("#workflows-title")).to_be_visible()
    expect(page.locator(".count-n").first).to_have_text("0")
    stored = page.evaluate("sessionStorage.getItem('duro.token')")
    assert stored == scene["token"], stored
    page.reload()
    expect(page.locator("#workflows-title")).to_be_visible()
    page.close()


def main() -> None:
    scene = json.loads(sys.argv[1])
    shots = pathlib.Path(scene["screenshots"])
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=scene["chromium"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        try:
            for step in (workflows_page, effects_workflow, scheduled_workflow, failed_workflow, stuck_workflow, signal_workflow, components_page):
                step(page, scene, shots)
                print(f"ok: {step.__name__}", flush=True)
            cancel_and_terminate(page, scene)
            print("ok: cancel_and_terminate", flush=True)
            dark_and_phone(browser, scene, shots)
            print("ok: dark_and_phone", flush=True)
            token_prompt(browser, scene)
            print("ok: token_prompt", flush=True)
        except Exception:
            page.screenshot(path=shots / "failure.png", full_page=True)
            raise
        finally:
            browser.close()
        assert not errors, f"the page threw: {errors}"


if __name__ == "__main__":
    main()

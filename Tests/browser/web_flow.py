"""The web app in a real headless Chromium, driven by selenium (run by WebBrowserTests.swift).

Environment: BASE_A and BASE_B (two daemons on one database), ACCOUNTS (JSON: role -> email,
password, name), PSQL (the psql binary) and DATABASE_URL (to write a report straight into the
table), SHOTS (a folder for screenshots). Every check raises on failure; the last line printed is
"ok" when all held. Each step prints what it saw, so a failure reads as a story.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

BASE_A = os.environ["BASE_A"]
BASE_B = os.environ["BASE_B"]
ACCOUNTS = json.loads(os.environ["ACCOUNTS"])
SHOTS = os.environ.get("SHOTS", "")
SCRIPT = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\">"


def check(condition, message):
    if not condition:
        raise AssertionError(message)
    print("  ok:", message, flush=True)


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=vi"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(30)
    return driver


def wait(driver, condition, message, timeout=15):
    try:
        # A live update replaces the list it reads (the history, the inbox) between finding an
        # element and reading it: that poll is tried again, as a missing element would be.
        return WebDriverWait(driver, timeout, poll_frequency=0.1,
                             ignored_exceptions=[StaleElementReferenceException]).until(lambda d: condition(d))
    except TimeoutException:
        raise AssertionError("timed out: " + message + "\n" + driver.page_source[:3000])


def texts_after(driver, selector, condition, message):
    """The texts of `selector` once `condition(texts)` holds: a click on a form's button may return
    before the answer has replaced the page, so read the page only once the answer is there."""
    def ready(d):
        try:
            found = [e.text for e in d.find_elements(By.CSS_SELECTOR, selector)]
        except StaleElementReferenceException:
            return False
        return found if condition(found) else False
    return wait(driver, ready, message)


def shot(driver, name):
    """A desktop and a 390 px phone screenshot of the current page, whole height."""
    if not SHOTS:
        return
    url = driver.current_url
    for width, height, tag in [(1280, 900, "desktop"), (390, 844, "phone")]:
        driver.set_window_size(width, height)
        driver.get(url)
        full = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(max(height, full + 120), 2600))
        time.sleep(0.2)
        driver.save_screenshot(os.path.join(SHOTS, f"{name}-{tag}.png"))
    driver.set_window_size(1280, 900)
    driver.get(url)


def sign_in(driver, base, role):
    account = ACCOUNTS[role]
    driver.get(base + "/sign-in")
    driver.find_element(By.NAME, "email").send_keys(account["email"])
    driver.find_element(By.NAME, "password").send_keys(account["password"])
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait(driver, lambda d: "/issues" in d.current_url, f"{role} lands on the issue list after signing in")
    check(account["name"] in driver.find_element(By.CSS_SELECTOR, "header .who").text, f"{role}: the header names {account['name']}")


def sign_out(driver):
    driver.find_element(By.CSS_SELECTOR, "header .who button").click()
    wait(driver, lambda d: "/sign-in" in d.current_url, "sign-out lands on the sign-in page")


def not_pwned(driver, where):
    try:
        driver.switch_to.alert
        raise AssertionError(f"{where}: an alert opened")
    except NoAlertPresentException:
        pass
    check(driver.execute_script("return window.__pwned === undefined"), f"{where}: script in user text did not run")


def history(driver):
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#history li")]


def act(driver, name, fields=None, selects=None):
    form = driver.find_element(By.CSS_SELECTOR, f"form.action.{name}")
    for field, value in (fields or {}).items():
        element = form.find_element(By.NAME, field)
        element.clear()
        element.send_keys(value)
    for field, value in (selects or {}).items():
        Select(form.find_element(By.NAME, field)).select_by_value(value)
    before = len(history(driver))
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(driver, lambda d: "done=1" in d.current_url or d.find_elements(By.CSS_SELECTOR, ".problem"), f"{name}: the form was answered")
    return before


def psql(sql):
    subprocess.run([os.environ["PSQL"], "-X", "-q", "-v", "ON_ERROR_STOP=1", os.environ["DATABASE_URL"], "-c", sql], check=True)


def main():
    unit, agency, member, supervisor, admin = (ACCOUNTS[r] for r in ["unit", "agency", "member", "supervisor", "admin"])
    driver = browser()
    try:
        print("unit: signs in on daemon A and files a report through the form", flush=True)
        sign_in(driver, BASE_A, "unit")
        shot(driver, "unit-home")
        driver.get(BASE_A + "/issues/new")
        # Bad input first: no title. The form comes back with the values kept and a message beside the field.
        Select(driver.find_element(By.NAME, "sector")).select_by_value(unit["sector"])
        driver.find_element(By.NAME, "description").send_keys("Mô tả giữ lại")
        driver.execute_script("document.getElementById('title').removeAttribute('required')")
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        errors = texts_after(driver, ".field-error", lambda found: found, "the form without a title came back")
        check(any("Mời nhập thông tin này." in e for e in errors), "an empty title is refused with a Vietnamese message beside the field")
        check(driver.find_element(By.NAME, "description").get_attribute("value") == "Mô tả giữ lại", "the description typed is kept")
        driver.find_element(By.NAME, "title").send_keys("Sạt lở đường liên xã " + SCRIPT)
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait(driver, lambda d: "filed=1" in d.current_url, "the report is filed and its page shown")
        issue_url = driver.current_url.split("?")[0]
        issue_id = issue_url.rsplit("/", 1)[1]
        check(SCRIPT in driver.find_element(By.CSS_SELECTOR, "h1").text, "script in the title is shown as text")
        not_pwned(driver, "issue page")
        wait(driver, lambda d: any("đã gửi phản ánh" in h for h in history(d)), "the history says who reported it")
        check(any(unit["name"] in h for h in history(driver)), f"the reported event names {unit['name']}")
        shot(driver, "unit-issue")
        sign_out(driver)

        print("agency: signs in on daemon B, sees the report, and a report inserted by SQL appears without a reload", flush=True)
        sign_in(driver, BASE_B, "agency")
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f"a[href='/issues/{issue_id}']"), "the routed report is in the agency's inbox", timeout=20)
        driver.execute_script("window.__sameDocument = 'yes'")
        psql(f"INSERT INTO escalated.issues (unit_code, sector_code, title, description) VALUES ('{unit['unit']}', '{unit['sector']}', 'Báo cáo từ hệ thống khác', 'ghi thẳng vào bảng')")
        wait(driver, lambda d: "Báo cáo từ hệ thống khác" in d.find_element(By.ID, "list").text, "the SQL report appears in the open inbox", timeout=20)
        check(driver.execute_script("return window.__sameDocument") == "yes", "the page was not reloaded (live update)")
        not_pwned(driver, "inbox")
        shot(driver, "agency-inbox")
        # Filters in the URL, and the CSV of the same filter.
        driver.get(BASE_B + "/issues?q=" + "liên+xã")
        rows = driver.find_elements(By.CSS_SELECTOR, "#list tbody tr")
        check(len(rows) == 1 and "Sạt lở" in rows[0].text, "the words filter keeps only the matching issue")

        driver.get(BASE_B + f"/issues/{issue_id}")
        before = act(driver, "acknowledge")
        wait(driver, lambda d: any(agency["name"] in h and "đã tiếp nhận" in h for h in history(d)), f"the history reads '{agency['name']} (...) đã tiếp nhận'")
        check(len(history(driver)) == before + 1, "one event more")
        act(driver, "comment", fields={"text": "Đã cử cán bộ kiểm tra " + SCRIPT}, selects={"kind": "guidance"})
        wait(driver, lambda d: any("Đã cử cán bộ kiểm tra" in h for h in history(d)), "the comment is in the history")
        check(any(SCRIPT in h for h in history(driver)), "script in a comment is shown as text")
        not_pwned(driver, "comment")

        print("agency: a form without its CSRF token, and a form from a stale page, change nothing", flush=True)
        count = len(history(driver))
        driver.execute_script("document.querySelector('form.action.resolve input[name=csrf]').remove()")
        driver.find_element(By.NAME, "resolution").send_keys("Không có mã chống giả mạo")
        driver.find_element(By.CSS_SELECTOR, "form.action.resolve button").click()
        wait(driver, lambda d: "không có gì thay đổi" in d.find_element(By.TAG_NAME, "main").text, "the CSRF refusal is shown")
        driver.get(BASE_B + f"/issues/{issue_id}")
        check(len(history(driver)) == count, "no event was written without the CSRF token")
        # Two tabs on the same issue: the first one's form is stale once the second resolves it.
        first = driver.current_window_handle
        driver.switch_to.new_window("tab")
        driver.get(BASE_B + f"/issues/{issue_id}")
        act(driver, "resolve", fields={"resolution": "Đã gia cố taluy, thông xe"})
        driver.close()
        driver.switch_to.window(first)
        driver.find_element(By.NAME, "resolution").send_keys("Giải quyết từ trang cũ")
        driver.find_element(By.CSS_SELECTOR, "form.action.resolve button").click()
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".problem"), "the stale form is answered")
        check("vừa được người khác cập nhật" in driver.find_element(By.CSS_SELECTOR, ".problem").text, "a stale form is refused with the new state")
        check(any("Đã gia cố taluy" in h for h in history(driver)), "the refusal shows the issue as it is now")
        check(not any("Giải quyết từ trang cũ" in h for h in history(driver)), "the stale resolution was not recorded")
        check(not driver.find_elements(By.CSS_SELECTOR, "form.action.resolve"), "a resolved issue offers no resolve form")
        driver.get(BASE_B + f"/issues/{issue_id}/resolve")
        check(driver.current_url.endswith(f"/issues/{issue_id}"), "reloading a refused form's address goes back to the issue page")
        shot(driver, "agency-issue")
        sign_out(driver)

        print("member: comments with a direction; supervisor: extends a deadline; unit: reopens and closes", flush=True)
        sign_in(driver, BASE_A, "member")
        shot(driver, "member-home")
        driver.get(BASE_A + f"/issues/{issue_id}")
        act(driver, "comment", fields={"text": "Đề nghị Sở khẩn trương kiểm tra hiện trường"}, selects={"kind": "direction"})
        wait(driver, lambda d: any(member["name"] in h and "chỉ đạo" in h for h in history(d)), "the direction names the member")
        sign_out(driver)

        sign_in(driver, BASE_B, "unit")
        driver.get(BASE_B + f"/issues/{issue_id}")
        act(driver, "reopen", fields={"reason": "Chưa khắc phục xong"})
        wait(driver, lambda d: any("mở lại" in h.lower() for h in history(d)), "reopened by the unit")
        sign_out(driver)

        sign_in(driver, BASE_A, "supervisor")
        shot(driver, "supervisor-home")
        driver.get(BASE_A + f"/issues/{issue_id}")
        # Bad input in the extend form: a duration that is not one.
        act(driver, "extend", fields={"by": "mai", "reason": "Chờ ý kiến"})
        check(any("4h" in e.text for e in driver.find_elements(By.CSS_SELECTOR, ".field-error")), "a wrong duration is refused beside the field")
        act(driver, "extend", fields={"by": "1d", "reason": "Chờ ý kiến của Sở Tài chính"}, selects={"deadline": "resolve"})
        wait(driver, lambda d: any("gia hạn" in h.lower() for h in history(d)), "the extension is in the history")
        check(driver.find_elements(By.CSS_SELECTOR, "#messages"), "the supervisor sees the messages the issue caused")
        shot(driver, "supervisor-issue")
        sign_out(driver)

        print("admin: accounts and deliveries; a session made on A works on B; sign-out ends it", flush=True)
        sign_in(driver, BASE_A, "admin")
        driver.get(BASE_A + "/admin/accounts")
        check(unit["email"] in driver.find_element(By.TAG_NAME, "main").text, "the accounts page lists the unit's account")
        driver.find_element(By.NAME, "name").send_keys("Lê Thị Hoa")
        # Past the browser's own check (type=email), as a script or an old browser would send it.
        driver.execute_script("document.querySelector('form.grid input[name=email]').type = 'text'")
        driver.find_element(By.NAME, "email").send_keys("not an email")
        driver.find_element(By.CSS_SELECTOR, "form.grid button[type=submit]").click()
        errors = texts_after(driver, ".field-error", lambda found: found, "the form with a bad email came back")
        check(any("thư điện tử" in e for e in errors), "a bad email is refused beside the field")
        check(driver.find_element(By.NAME, "name").get_attribute("value") == "Lê Thị Hoa", "the name typed is kept")
        shot(driver, "admin-accounts")
        # The directory: download it, upload a broken copy (problems by line, nothing changed), then the same file (unchanged).
        driver.get(BASE_A + "/admin/directory")
        revision = driver.find_element(By.CSS_SELECTOR, "h1 .muted").text
        cookie = driver.get_cookie("escalated_session")["value"]
        request = urllib.request.Request(BASE_A + "/admin/directory.yaml", headers={"Cookie": "escalated_session=" + cookie})
        text = urllib.request.urlopen(request).read().decode("utf-8")
        check("units:" in text and "Lào Cai" in text, "the directory downloads as YAML")
        folder = tempfile.mkdtemp()
        broken = os.path.join(folder, "broken.yaml")
        with open(broken, "w", encoding="utf-8") as f:
            f.write(text.replace("area: ", "area: khong-co-", 1))
        driver.find_element(By.NAME, "file").send_keys(broken)
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        problems = texts_after(driver, ".problems li", lambda found: found, "the broken file was answered")
        check(problems and all(p.startswith("directory.yaml:") for p in problems) and any("khong-co-" in p for p in problems),
              f"a broken file is refused with its problems by line: {problems[:3]}")
        check(driver.find_element(By.CSS_SELECTOR, "h1 .muted").text == revision, "and the directory is unchanged")
        same = os.path.join(folder, "same.yaml")
        with open(same, "w", encoding="utf-8") as f:
            f.write(text)
        driver.find_element(By.NAME, "file").send_keys(same)
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        # The broken file's problems are still on the page until the answer replaces it.
        answer = texts_after(driver, "main .notice", lambda found: bool(found), "the upload is answered with a notice")
        check(any("không có gì thay đổi" in a for a in answer), f"the same file changes nothing: {[a[:300] for a in answer]}")
        shot(driver, "admin-directory")
        driver.get(BASE_A + "/admin/deliveries")
        check("Thư và webhook" in driver.find_element(By.TAG_NAME, "h1").text, "the deliveries page opens")
        # API tokens: a bad form is answered beside its field; a token made here works on the API
        # (it is shown once), and once revoked it is refused.
        driver.get(BASE_A + "/admin/tokens")
        Select(driver.find_element(By.NAME, "kind")).select_by_value("unit")
        driver.find_element(By.NAME, "code").send_keys(unit["unit"])
        driver.find_element(By.NAME, "days").send_keys("0")
        driver.execute_script("document.querySelector('form.grid input[name=name]').required = false")
        driver.find_element(By.CSS_SELECTOR, "form.grid button[type=submit]").click()
        errors = texts_after(driver, ".field-error", lambda found: found, "the token form without a name came back")
        check(len(errors) == 2 and any("1 đến 3650" in e for e in errors), f"an empty name and 0 days are refused beside their fields: {errors}")
        check(driver.find_element(By.NAME, "code").get_attribute("value") == unit["unit"], "the code typed is kept")
        check(not driver.find_elements(By.ID, "token-secret"), "and no token is made")
        driver.find_element(By.NAME, "name").send_keys("Cổng dịch vụ công")
        driver.find_element(By.NAME, "days").clear()
        driver.find_element(By.NAME, "days").send_keys("30")
        driver.find_element(By.CSS_SELECTOR, "form.grid button[type=submit]").click()
        secret = texts_after(driver, "#token-secret", lambda found: found, "the token was made")[0]
        check(secret.startswith("esc_") and len(secret) == 47, "the token is shown once")
        row = [r for r in driver.find_elements(By.CSS_SELECTOR, "table.issues tbody tr") if "Cổng dịch vụ công" in r.text]
        check(len(row) == 1, "and listed by its name")
        shot(driver, "admin-tokens")

        def api_status(token):
            request = urllib.request.Request(BASE_B + "/v1/issues?limit=1", headers={"Authorization": "Bearer " + token})
            try:
                return urllib.request.urlopen(request).status
            except urllib.error.HTTPError as error:
                return error.code

        check(api_status(secret) == 200, "the API answers the token (on the other daemon too)")
        driver.get(BASE_A + "/admin/tokens")
        check(secret not in driver.page_source, "a reload does not show the token again")
        row = [r for r in driver.find_elements(By.CSS_SELECTOR, "table.issues tbody tr") if "Cổng dịch vụ công" in r.text][0]
        row.find_element(By.CSS_SELECTOR, "form button").click()
        texts_after(driver, "main .notice", lambda found: any("thu hồi" in t.lower() for t in found), "revoking says so")
        print("  ok: revoking says so", flush=True)
        deadline = time.time() + 15
        while api_status(secret) != 401 and time.time() < deadline:
            time.sleep(0.5)
        check(api_status(secret) == 401, "the revoked token is refused by the API")
        driver.get(BASE_B + "/issues")
        check(admin["name"] in driver.find_element(By.CSS_SELECTOR, "header .who").text, "the session made on A works on B")
        session = driver.get_cookie("escalated_session")
        check(session and session.get("httpOnly") and session.get("sameSite") == "Lax", "the session cookie is HttpOnly and SameSite=Lax")
        sign_out(driver)
        driver.add_cookie({"name": "escalated_session", "value": session["value"], "path": "/"})
        driver.get(BASE_A + "/issues")
        check("/sign-in" in driver.current_url, "the old session no longer opens a page after sign-out")
        driver.get(BASE_B + f"/issues/{issue_id}")
        check("/sign-in" in driver.current_url, "nor on the other daemon")

        print("scope: the unit of another commune does not see the issue", flush=True)
        sign_in(driver, BASE_A, "other_unit")
        driver.get(BASE_A + f"/issues/{issue_id}")
        check("Không tìm thấy" in driver.find_element(By.TAG_NAME, "main").text, "another unit's issue page is not found")
        driver.get(BASE_A + "/issues?view=all")
        check(not driver.find_elements(By.CSS_SELECTOR, f"a[href='/issues/{issue_id}']"), "nor is it in their list")
        severe = [l for l in driver.get_log("browser") if l["level"] == "SEVERE" and l.get("source") != "network"]
        check(not severe, f"no script error or CSP violation in the browser console (4xx answers are expected): {severe}")
        print("ok", flush=True)
    finally:
        driver.quit()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as failure:
        print("FAILED:", failure, flush=True)
        sys.exit(1)

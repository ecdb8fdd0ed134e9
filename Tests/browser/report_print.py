"""The dashboard and its printable report in a real headless Chromium (run by WebBrowserTests.swift).

Environment: BASE (a daemon), ACCOUNTS (JSON: role -> email, password, name), QUERY (the period's
query string), RECEIVED (how many reports the period received), SHOTS (a folder for screenshots
and the sample page). Prints the report to PDF with Chromium's own printing (A4), then checks its
pages with poppler's pdfinfo, pdftotext and pdftoppm. The last line printed is "ok" when all held.
"""
import base64
import json
import os
import re
import subprocess
import sys
import tempfile

from selenium.webdriver.common.by import By
from selenium.webdriver.common.print_page_options import PrintOptions

sys.path.insert(0, os.path.dirname(__file__))
from web_flow import browser, check, shot, wait  # noqa: E402

BASE = os.environ["BASE"]
ACCOUNTS = json.loads(os.environ["ACCOUNTS"])
QUERY = os.environ["QUERY"]
RECEIVED = os.environ["RECEIVED"]
SHOTS = os.environ.get("SHOTS", "")


def main():
    driver = browser()
    try:
        account = ACCOUNTS["supervisor"]
        driver.get(BASE + "/sign-in?next=/dashboard")
        driver.find_element(By.NAME, "email").send_keys(account["email"])
        driver.find_element(By.NAME, "password").send_keys(account["password"])
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        # The sign-in page's own address names /dashboard (its `next`): wait until it is left.
        wait(driver, lambda d: "/sign-in" not in d.current_url and ("/issues" in d.current_url or "/dashboard" in d.current_url),
             "the supervisor is signed in")

        print("dashboard", flush=True)
        driver.get(BASE + "/dashboard?" + QUERY)
        tiles = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".tile strong")]
        check(tiles and tiles[0] == RECEIVED, f"the headline shows {RECEIVED} received: {tiles}")
        cells = driver.find_elements(By.CSS_SELECTOR, ".cells .cell")
        check(len(cells) == 48, f"one cell per unit of the sample directory: {len(cells)}")
        check(driver.find_elements(By.CSS_SELECTOR, ".cell.late") and driver.find_elements(By.CSS_SELECTOR, ".cell.clear"),
              "cells are coloured by their worst state")
        check(len(driver.find_elements(By.CSS_SELECTOR, "figure.chart svg")) == 3, "three charts drawn on the server")
        late = driver.find_elements(By.CSS_SELECTOR, ".cell.late")[0]
        late_title = late.get_attribute("title")
        late.click()
        wait(driver, lambda d: "/issues?" in d.current_url and "overdue=1" in d.current_url, "a late cell opens its overdue list")
        rows = driver.find_elements(By.CSS_SELECTOR, "table.issues tbody tr")
        overdue = int(late_title.split(",")[1].strip().split(" ")[0])
        check(len(rows) == overdue or (overdue > 50 and len(rows) == 50), f"the list holds the cell's {overdue} overdue issues: {len(rows)} rows ({late_title})")
        driver.get(BASE + "/dashboard?" + QUERY)
        shot(driver, "supervisor-dashboard")
        details = driver.find_elements(By.CSS_SELECTOR, "figure.chart details summary")[0]
        details.click()
        check(driver.find_elements(By.CSS_SELECTOR, "figure.chart details[open] table"), "the table behind a chart is one click away")
        severe = [l for l in driver.get_log("browser") if l["level"] == "SEVERE"]
        check(not severe, f"no script error or CSP violation: {severe}")

        print("printable report", flush=True)
        driver.get(BASE + "/report?" + QUERY)
        check(driver.find_elements(By.CSS_SELECTOR, ".report-head .org"), "the report names the organisation")
        options = PrintOptions()
        options.page_width = 21.0
        options.page_height = 29.7
        options.background = True
        pdf = base64.b64decode(driver.print_page(options))
        folder = tempfile.mkdtemp()
        path = os.path.join(folder, "report.pdf")
        with open(path, "wb") as f:
            f.write(pdf)
        if SHOTS:
            subprocess.run(["cp", path, os.path.join(SHOTS, "report.pdf")], check=True)
        info = subprocess.run(["pdfinfo", path], capture_output=True, text=True, check=True).stdout
        pages = int([l for l in info.splitlines() if l.startswith("Pages:")][0].split()[1])
        size = [l for l in info.splitlines() if l.startswith("Page size:")][0]
        check(2 <= pages <= 10, f"the report prints on {pages} pages")
        check("595" in size and "841" in size or "842" in size, f"A4 pages: {size}")
        for page in [1, pages]:
            text = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), "-layout", path, "-"], capture_output=True, text=True, check=True).stdout
            check(re.search(rf"(^|\s){page}\s*/\s*{pages}(\s|$)", text), f"page {page} is numbered '{page} / {pages}'")
        first = subprocess.run(["pdftotext", "-f", "1", "-l", "1", path, "-"], capture_output=True, text=True, check=True).stdout
        check("Tỉnh Lào Cai".upper() in first.upper() and "Báo cáo tình hình" in first, "page 1 has the province and the title, in exact diacritics")
        check("Theo cơ quan chủ trì" in subprocess.run(["pdftotext", path, "-"], capture_output=True, text=True, check=True).stdout,
              "the agencies' table is printed")
        subprocess.run(["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile", path, os.path.join(folder, "page")], check=True)
        check(os.path.getsize(os.path.join(folder, "page.png")) > 20_000, "page 1 renders to an image")
        if SHOTS:
            subprocess.run(["cp", os.path.join(folder, "page.png"), os.path.join(SHOTS, "report-page-1.png")], check=True)
        print("ok", flush=True)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()

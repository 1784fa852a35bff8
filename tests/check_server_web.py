"""check_server_web.py: the chat page that `latte serve` shows at `/`, in headless Chromium
(Debian's chromium and chromium-driver, driven by Selenium): it loads, a typed message is
answered (streamed), and the answer equals the API's reply to the same message with the same
settings. The screenshot is kept as BUILD/web_chat.png. SKIP without chromium or selenium.
About 10 s."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

from testlib import BUILD, LATTE, ROOT, SAN, Reporter

report = Reporter()
SMOL = os.path.join(os.path.expanduser("~"), ".cache", "latte", "SmolLM2-135M-Instruct.Q4_1.gguf")
MESSAGE = "What is the capital of France?"


def main():
    try:
        from selenium import webdriver
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        print("SKIP web_chat: selenium is not installed (pip install -r tests/requirements.txt)")
        return 0
    browser = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    if not browser or not driver or not os.path.exists(SMOL):
        print("SKIP web_chat: needs chromium, chromium-driver and the built-in model")
        return 0
    p = subprocess.Popen([LATTE, "serve", "--port", "0", "-n", "8", "--temp", "0", "-t", "2"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    port = None
    for line in p.stderr:
        if line.startswith("listening on http://"):
            port = int(line.rsplit(":", 1)[1])
            break
    if port is None:
        report("web_chat_server", False, "the server did not start")
        return 1
    base = f"http://127.0.0.1:{port}"
    d = None
    try:
        req = urllib.request.Request(base + "/v1/chat/completions", method="POST", data=json.dumps(
            {"messages": [{"role": "user", "content": MESSAGE}]}).encode())
        want = json.load(urllib.request.urlopen(req, timeout=120))["choices"][0]["message"]["content"]
        opts = webdriver.ChromeOptions()
        opts.binary_location = browser
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=900,700"):
            opts.add_argument(a)
        d = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver), options=opts)
        d.get(base + "/")
        report("web_chat_page_loads", d.title == "latte" and d.find_element(By.ID, "msg"), d.title)
        d.find_element(By.ID, "msg").send_keys(MESSAGE)
        d.find_element(By.ID, "send").click()
        WebDriverWait(d, 120 if SAN else 60).until(
            lambda drv: drv.find_elements(By.CSS_SELECTOR, ".assistant[data-done='1']"))
        got = d.find_element(By.CSS_SELECTOR, ".assistant").text
        shot = os.path.join(ROOT, BUILD, "web_chat.png")
        d.save_screenshot(shot)
        report("web_chat_answers", got.strip() == want.strip() and got.strip(), f"page {got!r}, API {want!r}")
        report("web_chat_screenshot", os.path.getsize(shot) > 1000, shot)
    finally:
        if d:
            d.quit()
        p.send_signal(signal.SIGTERM)
        rc = p.wait(30)
    report("web_chat_server_exit_0", rc == 0, f"exit {rc}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())

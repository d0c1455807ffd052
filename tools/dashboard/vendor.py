"""Make the site that ``asv publish`` wrote load its JavaScript and CSS locally.

asv's pages load jQuery, flot and two of its plugins, stupidtable, blueimp-md5
and Bootstrap from CDNs, so without internet they show only asv's "failed to
load" page.  This installs the versions pinned in package.json and
package-lock.json beside this file with ``npm ci`` into .asv/dashboard-npm,
copies the files the pages use (and the fonts Bootstrap's CSS names) into
HTML_DIR/vendor/, and points every CDN reference at its copy:

    python tools/dashboard/vendor.py [HTML_DIR]     # default .asv/html

It exits non-zero, naming the reference or the file, when a page would still
load something from another host or a local reference names a missing file.
Running it again on the same site changes nothing.  Standard library only.
"""
import argparse
import base64
import hashlib
import html.parser
import pathlib
import posixpath
import re
import shutil
import subprocess
import sys
import urllib.parse

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent

# Each CDN address in asv 0.6.6's www/index.html: the npm package and the file
# in it that replaces it, and whether that file has the very bytes the page's
# integrity hash names.  Where it has, the hash is checked here and kept, so
# the browser checks the copy too.  Two have other bytes, and lose the hash:
# flot 0.8.3 is on npm only as sources (the CDN serves minified builds of the
# same release), and stupidtable 1.0.1 is not on npm at all (1.1.3, its only
# release there, keeps the API asv calls: stupidtable(), stupidsort(dir) and
# the aftertablesort event).  A newer asv with other addresses fails here
# until this table and package.json follow it.
CDN_FILES = {
    "https://code.jquery.com/jquery-3.3.1.min.js":
        ("jquery", "dist/jquery.min.js", True),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js":
        ("flot", "jquery.flot.js", False),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js":
        ("flot", "jquery.flot.time.js", False),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js":
        ("flot", "jquery.flot.selection.js", False),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js":
        ("flot", "jquery.flot.categories.js", False),
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js":
        ("flot-orderbars", "js/jquery.flot.orderBars.js", True),
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js":
        ("stupid-table-plugin", "stupidtable.min.js", False),
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js":
        ("blueimp-md5", "js/md5.min.js", True),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js":
        ("bootstrap", "dist/js/bootstrap.min.js", True),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css":
        ("bootstrap", "dist/css/bootstrap.min.css", True),
}

TAG = re.compile(r"<(?:script|link)\b[^>]*>", re.IGNORECASE)
URL_ATTR = re.compile(r"""\b(src|href)\s*=\s*(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
INTEGRITY_ATTR = re.compile(r"""\s+integrity\s*=\s*(["'])(.*?)\1""", re.IGNORECASE | re.DOTALL)
CSS_URL = re.compile(r"""url\(\s*(["']?)([^"')]+)\1\s*\)""")


class Failure(Exception):
    """A reason the site would not render offline; main() prints it and exits 1."""


def npm_install(npm_dir):
    """``npm ci`` of the pinned packages into npm_dir; returns its node_modules."""
    npm = shutil.which("npm")
    if npm is None:
        raise Failure("npm not found on PATH: it installs the pinned JavaScript "
                      "(tools/dashboard/package-lock.json)")
    npm_dir.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(HERE / name, npm_dir / name)
    # --prefer-offline: once npm's cache holds these tarballs, no registry is asked.
    # --ignore-scripts: the files are copied, never run by npm.
    command = [npm, "ci", "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund"]
    done = subprocess.run(command, cwd=npm_dir)
    if done.returncode != 0:
        raise Failure(f"npm ci failed (exit status {done.returncode}) in {npm_dir}")
    return npm_dir / "node_modules"


def copy_file(node_modules, vendor, package, path):
    """Copy node_modules/package/path to vendor/package/path; return the copy."""
    source = node_modules / package / path
    if not source.is_file():
        raise Failure(f"missing file {source} (package {package} of "
                      "tools/dashboard/package-lock.json)")
    target = vendor / package / path
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def copy_css_assets(node_modules, vendor, package, path):
    """Copy what a stylesheet's url(...) names, beside it as in the package.

    Bootstrap's CSS names its icon fonts as ../fonts/...; a url with a host
    would be one more load from outside and fails.
    """
    css = (node_modules / package / path).read_text(encoding="utf-8")
    for _, url in CSS_URL.findall(css):
        if url.startswith("data:"):
            continue
        parts = urllib.parse.urlsplit(url)
        if parts.scheme or parts.netloc:
            raise Failure(f"{package}/{path} loads {url} from another host")
        asset = posixpath.normpath(posixpath.join(posixpath.dirname(path), parts.path))
        if asset.startswith("../"):
            raise Failure(f"{package}/{path} names {url}, outside its package")
        copy_file(node_modules, vendor, package, asset)


def integrity_matches(path, integrity):
    """Whether the file has one of the hashes of an integrity attribute."""
    data = path.read_bytes()
    for token in integrity.split():
        algorithm, _, expected = token.partition("-")
        if algorithm in ("sha256", "sha384", "sha512"):
            digest = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
            if digest == expected:
                return True
    return False


def rewrite_page(page, copies):
    """Point the page's CDN references at the copies; returns how many it changed."""
    text = page.read_text(encoding="utf-8")
    changed = 0

    def local(match):
        nonlocal changed
        tag = match.group(0)
        url = URL_ATTR.search(tag)
        if url is None or url.group(3) not in CDN_FILES:
            return tag
        same_bytes = CDN_FILES[url.group(3)][2]
        copy = copies[url.group(3)]
        integrity = INTEGRITY_ATTR.search(tag)
        if same_bytes and integrity and not integrity_matches(copy, integrity.group(2)):
            raise Failure(f"{copy} does not have the bytes whose hash {page.name} "
                          f"names for {url.group(3)}")
        if not same_bytes:
            tag = INTEGRITY_ATTR.sub("", tag)
        relative = copy.relative_to(page.parent).as_posix()
        changed += 1
        return tag.replace(url.group(0), f'{url.group(1)}="{relative}"', 1)

    text = TAG.sub(local, text)
    page.write_text(text, encoding="utf-8")
    return changed


class _References(html.parser.HTMLParser):
    """Every address a page loads by itself: script src, link href, img src."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "img") and attrs.get("src"):
            self.urls.append(attrs["src"])
        elif tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])


def check_page(page):
    """Fail unless every address the page loads is a file beside it."""
    parser = _References()
    parser.feed(page.read_text(encoding="utf-8"))
    for url in parser.urls:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme or parts.netloc:
            raise Failure(f"{page} still loads {url} from another host "
                          "(not in CDN_FILES of tools/dashboard/vendor.py)")
        target = page.parent / urllib.parse.unquote(parts.path)
        if not target.is_file():
            raise Failure(f"{page} loads {url}, which is missing ({target})")


def vendor_site(html_dir, npm_dir):
    if not (html_dir / "index.html").is_file():
        raise Failure(f"no {html_dir / 'index.html'}: run asv publish first")
    node_modules = npm_install(npm_dir)
    vendor = html_dir / "vendor"
    copies = {}
    for url, (package, path, _) in CDN_FILES.items():
        copies[url] = copy_file(node_modules, vendor, package, path)
        if path.endswith(".css"):
            copy_css_assets(node_modules, vendor, package, path)
    pages = sorted(html_dir.glob("*.html"))
    for page in pages:
        changed = rewrite_page(page, copies)
        check_page(page)
        print(f"vendor.py: {page.relative_to(html_dir)}: {changed} CDN references "
              "now load from vendor/")
    print(f"vendor.py: {len(pages)} pages in {html_dir} load nothing from another host")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html_dir", nargs="?", default=ROOT / ".asv" / "html", type=pathlib.Path)
    parser.add_argument("--npm-dir", default=ROOT / ".asv" / "dashboard-npm", type=pathlib.Path,
                        help="where npm ci installs the packages (default .asv/dashboard-npm)")
    args = parser.parse_args(argv)
    try:
        vendor_site(args.html_dir.resolve(), args.npm_dir.resolve())
    except Failure as failure:
        print(f"vendor.py: FAILED: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

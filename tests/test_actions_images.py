"""Image actions: endpoint choice, local format/size checks, multipart; then the sandbox."""

from __future__ import annotations

import base64
import json
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import pytest
import requests
from conftest import BASE, document, run
from contract import validate_response
from klaviyo_connector.actions.images import MAX_IMAGE_BYTES
from klaviyo_connector.errors import KlaviyoError

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(40)
JPEG = b"\xff\xd8\xff\xe0" + bytes(40)
GIF = b"GIF89a" + bytes(40)


def image_doc(image_id: str = "7", **attributes: Any) -> dict[str, Any]:
    attrs = {
        "name": "logo",
        "image_url": "https://d3k81ch9hvuctc.cloudfront.net/company/abc/images/logo.png",
        "format": "png",
        "size": len(PNG),
        "hidden": False,
        "updated_at": "2026-07-15T00:00:00+00:00",
    }
    return document("image", image_id, {**attrs, **attributes})


def data_uri(content: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(content).decode()


def multipart(request: Any) -> dict[str, tuple[str | None, str | None, bytes]]:
    """name -> (filename, content type, bytes) of a multipart request."""
    body = request.body if isinstance(request.body, bytes) else request.body.encode()
    head = b"Content-Type: " + request.headers["Content-Type"].encode() + b"\r\n\r\n"
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    return {
        str(part.get_param("name", header="content-disposition")): (
            part.get_filename(),
            part.get_content_type() if part.get("content-type") else None,
            part.get_payload(decode=True),
        )
        for part in message.iter_parts()
    }


# -- uploadImage: URL and data URI -> POST /api/images ---------------------------------------------


def test_upload_from_url_uses_json_api_import(runner, klaviyo):
    klaviyo.add("POST", f"{BASE}/api/images", status=201, json=image_doc())
    out = run(
        runner,
        "uploadImage",
        {"imageUrl": "https://example.com/image.jpg", "imageName": "My Image", "imageHidden": "false"},
    )
    assert out == {"data": image_doc()}
    request = klaviyo.calls[0].request
    assert request.headers["Content-Type"] == "application/vnd.api+json"
    assert json.loads(request.body) == {
        "data": {
            "type": "image",
            "attributes": {
                "import_from_url": "https://example.com/image.jpg",
                "name": "My Image",
                "hidden": False,
            },
        }
    }


def test_upload_from_data_uri_is_checked_then_sent_as_is(runner, klaviyo):
    klaviyo.add("POST", f"{BASE}/api/images", status=201, json=image_doc(format="gif"))
    uri = data_uri(GIF, "image/gif")
    run(runner, "uploadImage", {"imageUrl": uri})
    assert json.loads(klaviyo.calls[0].request.body)["data"]["attributes"] == {"import_from_url": uri}


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://example.com/a.png", "must be an https:// URL or a data: URI"),
        ("ftp://example.com/a.png", "must be an https:// URL or a data: URI"),
        ("example.com/a.png", "must be an https:// URL or a data: URI"),
        ("data:image/png,rawbytes", "data URIs must be base64-encoded"),
        ("data:image/png;base64,@@@", "not valid base64"),
        (data_uri(b"%PDF-1.7 not an image", "image/png"), "not a JPEG, PNG or GIF image"),
        (data_uri(b"\x89PNG\r\n\x1a\n" + bytes(MAX_IMAGE_BYTES)), "Klaviyo accepts images up to 5 MB"),
    ],
)
def test_bad_urls_are_refused_before_sending(runner, klaviyo, url, problem):
    with pytest.raises(KlaviyoError) as info:
        run(runner, "uploadImage", {"imageUrl": url})
    assert info.value.field == "Image URL"
    assert problem in str(info.value)
    assert len(klaviyo.calls) == 0


# -- uploadImage: file data -> POST /api/image-upload (multipart) ----------------------------------


@pytest.mark.parametrize(
    ("content", "name", "filename", "mime"),
    [
        (PNG, "Logo", "Logo.png", "image/png"),
        (JPEG, "photo.JPG", "photo.JPG", "image/jpeg"),
        (GIF, None, "image.gif", "image/gif"),
        (JPEG, "a/b\\c?", "a_b_c_.jpg", "image/jpeg"),
    ],
)
def test_upload_file_data_sends_multipart(runner, klaviyo, content, name, filename, mime):
    klaviyo.add("POST", f"{BASE}/api/image-upload", status=201, json=image_doc())
    inputs: dict[str, Any] = {"fileData": base64.b64encode(content).decode(), "imageHidden": True}
    if name is not None:
        inputs["imageName"] = name
    out = run(runner, "uploadImage", inputs)
    assert out == {"data": image_doc()}
    request = klaviyo.calls[0].request
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert request.headers["Accept"] == "application/vnd.api+json"
    parts = multipart(request)
    assert parts["file"] == (filename, mime, content)
    assert parts["hidden"][2] == b"true"
    if name is None:
        assert set(parts) == {"file", "hidden"}
    else:
        assert parts["name"][2] == name.encode()


def test_upload_raw_bytes_from_a_previous_step(runner, klaviyo):
    klaviyo.add("POST", f"{BASE}/api/image-upload", status=201, json=image_doc())
    run(runner, "uploadImage", {"fileData": PNG})
    assert multipart(klaviyo.calls[0].request)["file"][2] == PNG


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("not base64!", "not valid base64"),
        (base64.b64encode(b"<svg></svg>").decode(), "the file is not a JPEG, PNG or GIF image"),
        (b"", "the file is empty"),
        (PNG + bytes(MAX_IMAGE_BYTES), f"is {len(PNG) + MAX_IMAGE_BYTES:,} bytes"),
    ],
)
def test_bad_file_data_is_refused_before_sending(runner, klaviyo, data, problem):
    with pytest.raises(KlaviyoError) as info:
        run(runner, "uploadImage", {"fileData": data})
    assert info.value.field == "File Data"
    assert problem in str(info.value)
    assert len(klaviyo.calls) == 0


@pytest.mark.parametrize("inputs", [{}, {"imageUrl": "https://example.com/a.png", "fileData": PNG}])
def test_exactly_one_source(runner, klaviyo, inputs):
    with pytest.raises(KlaviyoError, match="Image URL: give either Image URL or File Data"):
        run(runner, "uploadImage", inputs)
    assert len(klaviyo.calls) == 0


def test_five_megabytes_exactly_is_allowed(runner, klaviyo):
    klaviyo.add("POST", f"{BASE}/api/image-upload", status=201, json=image_doc())
    content = PNG + bytes(MAX_IMAGE_BYTES - len(PNG))
    run(runner, "uploadImage", {"fileData": content})
    assert len(multipart(klaviyo.calls[0].request)["file"][2]) == MAX_IMAGE_BYTES


def test_file_upload_is_not_retried_after_a_server_error(runner, klaviyo):
    klaviyo.add("POST", f"{BASE}/api/image-upload", status=503, json={"errors": [{"detail": "down"}]})
    with pytest.raises(KlaviyoError) as info:
        run(runner, "uploadImage", {"fileData": PNG})
    assert info.value.status == 503
    assert len(klaviyo.calls) == 1  # a second upload could create a second image


# -- get / update / list ---------------------------------------------------------------------------


def test_get_image_with_fields(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/images/7", json=image_doc())
    run(runner, "getImage", {"imageId": "7", "fields": ["name", "image_url"]})
    assert klaviyo.calls[0].request.params == {"fields[image]": "name,image_url"}


def test_update_image(runner, klaviyo):
    klaviyo.add("PATCH", f"{BASE}/api/images/7", json=image_doc(hidden=True))
    out = run(runner, "updateImage", {"imageId": "7", "imageHidden": "true"})
    assert out["data"]["data"]["attributes"]["hidden"] is True
    assert json.loads(klaviyo.calls[0].request.body) == {
        "data": {"type": "image", "id": "7", "attributes": {"hidden": True}}
    }


def test_update_image_needs_a_change(runner, klaviyo):
    with pytest.raises(KlaviyoError, match="Image Name: give Image Name or Image Hidden"):
        run(runner, "updateImage", {"imageId": "7"})
    assert len(klaviyo.calls) == 0


def test_list_images(runner, klaviyo):
    page = {"data": [image_doc()["data"]], "links": {"self": f"{BASE}/api/images"}}
    klaviyo.add("GET", f"{BASE}/api/images", json=page)
    out = run(runner, "listImages", {"filter": "equals(format,'png')", "fields": "name"})
    assert out["data"]["data"] == page["data"]
    assert klaviyo.calls[0].request.params == {
        "page[size]": "100",
        "filter": "equals(format,'png')",
        "fields[image]": "name",
    }


def test_image_action_flags_and_operations():
    from klaviyo_connector.actions import images

    by_key = {a.key: a for a in images.ACTIONS}
    assert by_key["uploadImage"].operations == ("upload_image_from_url", "upload_image_from_file")
    assert not by_key["uploadImage"].idempotent
    assert by_key["getImage"].read_only and by_key["listImages"].read_only
    assert by_key["updateImage"].idempotent and not by_key["updateImage"].read_only


# -- sandbox -----------------------------------------------------------------------------------------


def test_sandbox_image_uploads_and_updates(runner, sandbox_connection):
    base = sandbox_connection["fields"]["baseUrl"]

    def go(action: str, inputs: dict[str, Any]) -> Any:
        return run(runner, action, inputs, connection=sandbox_connection)["data"]

    from_file = go("uploadImage", {"fileData": base64.b64encode(PNG).decode(), "imageName": "logo"})
    validate_response("POST", f"{base}/api/image-upload", 201, from_file)
    assert from_file["data"]["attributes"] | {"image_url": None, "updated_at": None} == {
        "name": "logo",
        "image_url": None,
        "format": "png",
        "size": len(PNG),
        "hidden": False,
        "updated_at": None,
    }
    image_id = from_file["data"]["id"]
    assert image_id.isdigit()

    same_name = go(
        "uploadImage", {"imageUrl": data_uri(GIF, "image/gif"), "imageName": "logo", "imageHidden": True}
    )
    validate_response("POST", f"{base}/api/images", 201, same_name)
    attributes = same_name["data"]["attributes"]
    assert (attributes["name"], attributes["format"], attributes["size"], attributes["hidden"]) == (
        "logo-1",
        "gif",
        len(GIF),
        True,
    )

    from_url = go("uploadImage", {"imageUrl": "https://cdn.example.com/img/banner.JPEG"})
    assert from_url["data"]["attributes"]["name"] == "banner.JPEG"
    assert from_url["data"]["attributes"]["format"] == "jpeg"

    got = go("getImage", {"imageId": image_id})
    validate_response("GET", f"{base}/api/images/{image_id}", 200, got)
    updated = go("updateImage", {"imageId": image_id, "imageName": "brand logo", "imageHidden": True})
    validate_response("PATCH", f"{base}/api/images/{image_id}", 200, updated)
    assert updated["data"]["attributes"]["name"] == "brand logo"
    assert updated["data"]["attributes"]["hidden"] is True

    listed = go("listImages", {"filter": "equals(hidden,true)", "sort": "name"})
    assert [i["attributes"]["name"] for i in listed["data"]] == ["brand logo", "logo-1"]
    validate_response("GET", f"{base}/api/images", 200, {"data": listed["data"], "links": listed["links"]})
    assert [i["id"] for i in go("listImages", {"filter": "greater-than(size,0)"})["data"]] == [
        image_id,
        same_name["data"]["id"],
    ]

    with pytest.raises(KlaviyoError) as info:
        go("getImage", {"imageId": "1"})
    assert info.value.status == 404


def sandbox_headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Klaviyo-API-Key {key}", "revision": "2026-07-15"}


@pytest.mark.parametrize(
    ("source", "detail"),
    [
        ("https://example.com/image", "does not download images"),
        ("ftp://example.com/a.png", "must be an http(s) URL or a data URI"),
        (data_uri(b"BM not a bitmap we take", "image/png"), "Unsupported image format"),
        (data_uri(PNG, "image/webp"), "Unsupported image format"),
        ("data:image/png,plain", "must look like data:image/png;base64"),
    ],
)
def test_sandbox_import_checks(sandbox_connection, source, detail):
    fields = sandbox_connection["fields"]
    url = f"{fields['baseUrl']}/api/images"
    response = requests.post(
        url,
        json={"data": {"type": "image", "attributes": {"import_from_url": source}}},
        headers={**sandbox_headers(fields["apiKey"]), "Content-Type": "application/vnd.api+json"},
        timeout=10,
    )
    assert response.status_code == 400
    assert detail in response.json()["errors"][0]["detail"]
    assert response.json()["errors"][0]["source"] == {"pointer": "/data/attributes/import_from_url"}
    validate_response("POST", url, 400, response.json())


def test_sandbox_file_upload_checks(sandbox_connection):
    fields = sandbox_connection["fields"]
    url = f"{fields['baseUrl']}/api/image-upload"
    headers = sandbox_headers(fields["apiKey"])

    too_big = requests.post(
        url,
        files={"file": ("big.png", PNG + bytes(MAX_IMAGE_BYTES), "image/png")},
        headers=headers,
        timeout=30,
    )
    assert too_big.status_code == 400
    assert "5 MB" in too_big.json()["errors"][0]["detail"]

    missing = requests.post(url, files={"name": (None, "x")}, headers=headers, timeout=10)
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["detail"] == "'file' is a required form field."

    as_json = requests.post(
        url,
        json={"file": "x"},
        headers={**headers, "Content-Type": "application/vnd.api+json"},
        timeout=10,
    )
    assert as_json.status_code == 415

    named_by_file = requests.post(
        url, files={"file": ("cat.gif", GIF, "image/gif")}, headers=headers, timeout=10
    )
    assert named_by_file.status_code == 201
    assert named_by_file.json()["data"]["attributes"]["name"] == "cat.gif"

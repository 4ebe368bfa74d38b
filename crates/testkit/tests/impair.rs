//! The impaired link carries traffic between its two hosts and does to it
//! what it was told, in each direction.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use testkit::impair::{CLIENT_ADDR, Impairment, Link, SERVER_ADDR};

fn link(to_server: &str, to_client: &str, seed: u64) -> Link {
    if let Err(why) = Link::available() {
        panic!("{why}: run the ignored tests as root");
    }
    Link::new(to_server.parse().unwrap(), to_client.parse().unwrap(), seed)
        .expect("make an impaired link")
}

fn server_addr(port: u16) -> SocketAddr {
    SocketAddr::new(SERVER_ADDR.parse().unwrap(), port)
}

#[test]
#[ignore = "needs root"]
fn tcp_arrives_whole_over_a_bad_link_and_the_relay_counts_what_it_did() {
    let link = link(
        "loss 5%, delay 5ms 3ms, reorder 10%, duplicate 5%, corrupt 1%",
        "loss 5%, delay 5ms 3ms, duplicate 5%",
        11,
    );
    let listener = link
        .spawn_in_server(|| TcpListener::bind((SERVER_ADDR, 0)))
        .unwrap()
        .join()
        .unwrap()
        .unwrap()
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let data: Vec<u8> = testkit::Rng::new(5).bytes(512 * 1024);
    let expect = data.clone();
    // The server echoes what it reads until the client's end of stream.
    let echo = std::thread::spawn(move || {
        let (mut s, peer) = listener.accept().unwrap();
        assert_eq!(peer.ip().to_string(), CLIENT_ADDR);
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        s.write_all(&got).unwrap();
    });
    let client = link
        .spawn_in_client(move || {
            let mut s = TcpStream::connect_timeout(&server_addr(port), Duration::from_secs(10))?;
            s.set_read_timeout(Some(Duration::from_secs(60)))?;
            let mut w = s.try_clone()?;
            let sender = std::thread::spawn(move || {
                w.write_all(&data)?;
                w.shutdown(std::net::Shutdown::Write)
            });
            let mut back = Vec::new();
            s.read_to_end(&mut back)?;
            sender.join().expect("sender")?;
            Ok::<_, std::io::Error>(back)
        })
        .unwrap();
    let back = client.join().unwrap().unwrap().unwrap();
    echo.join().unwrap();
    assert!(
        back == expect,
        "the echo differs ({} of {} bytes)",
        back.len(),
        expect.len()
    );
    let s = link.stats();
    eprintln!("{s}");
    for d in [s.to_server, s.to_client] {
        assert!(d.dropped > 0 && d.duplicated > 0 && d.delayed > 0, "{s}");
        assert!(d.delivered >= d.packets - d.dropped - d.overflow, "{s}");
    }
    assert!(
        s.to_server.reordered > 0 && s.to_server.corrupted > 0,
        "{s}"
    );
    assert_eq!(s.to_client.reordered + s.to_client.corrupted, 0, "{s}");
}

#[test]
#[ignore = "needs root"]
fn every_datagram_is_duplicated_one_way_only_and_delay_is_felt() {
    let link = link("duplicate 100%", "delay 150ms", 3);
    let server = link
        .spawn_in_server(|| UdpSocket::bind((SERVER_ADDR, 0)))
        .unwrap()
        .join()
        .unwrap()
        .unwrap()
        .unwrap();
    let port = server.local_addr().unwrap().port();
    let client = link
        .spawn_in_client(move || UdpSocket::bind((CLIENT_ADDR, 0)))
        .unwrap()
        .join()
        .unwrap()
        .unwrap()
        .unwrap();
    client.connect(server_addr(port)).unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 100];
    for i in 0..20u8 {
        client.send(&[i]).unwrap();
        for _ in 0..2 {
            let (n, from) = server.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], &[i]);
            let start = std::time::Instant::now();
            server.send_to(&[i], from).unwrap();
            assert_eq!(client.recv(&mut buf).unwrap(), 1);
            assert!(start.elapsed() >= Duration::from_millis(140));
        }
    }
    // ARP crosses untouched; nothing else but the datagrams crosses.
    let s = link.stats();
    assert_eq!(s.to_server.duplicated, 20, "{s}");
    assert_eq!(s.to_client.duplicated, 0, "{s}");
    assert_eq!(s.to_client.delayed, 40, "{s}");
    assert_eq!(
        s.to_server.delayed + s.to_client.dropped + s.to_server.dropped,
        0,
        "{s}"
    );
}

#[test]
#[ignore = "needs root"]
fn the_namespaces_go_with_the_link() {
    let link = link("", "", 1);
    let names = [link.server_ns().to_string(), link.client_ns().to_string()];
    let listed = || {
        let out = std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(names.iter().all(|n| listed().contains(n.as_str())));
    drop(link);
    let after = listed();
    assert!(names.iter().all(|n| !after.contains(n.as_str())), "{after}");
    let _ = Impairment::default();
}
